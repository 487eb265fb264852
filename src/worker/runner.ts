import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import { backoffDelayMs } from '../queue/backoff.js';
import { JOBS_CHANNEL, listen, type Listener } from '../queue/events.js';
import { claimTasks } from '../queue/sql/claim-tasks.js';
import { completeTasks, type Completion } from '../queue/sql/complete-tasks.js';
import { extendLeases } from '../queue/sql/extend-leases.js';
import { failTask } from '../queue/sql/fail-task.js';
import { finishCancelledTask } from '../queue/sql/finish-cancelled-task.js';
import { releaseTasks } from '../queue/sql/release-tasks.js';
import { updateProgress } from '../queue/sql/update-progress.js';
import type { Task } from '../queue/task.js';
import type { ProgressUpdate } from './define-task.js';
import { executeTask, type AbortReason, type AttemptError, type Outcome } from './execute-task.js';
import type { Registry } from './registry.js';
import { createWorkerId } from './worker-id.js';

export interface RunnerOptions {
  sql: Sql;
  registry: Registry;
  log: Logger;
  /** Tasks run at once (default 10). */
  concurrency?: number;
  /** Queues to claim from; empty: all (default). */
  queues?: readonly string[];
  /** Poll when no notification came, in ms (default 1000). */
  pollIntervalMs?: number;
  /** Lease per claim and heartbeat, in ms (defaults 30,000 and 10,000). */
  leaseMs?: number;
  heartbeatMs?: number;
  /** On stop, wait this long for running tasks before aborting and releasing them, in ms (default 30,000). */
  shutdownGraceMs?: number;
  /** After an abort, a handler that ignores its signal keeps its slot this long, in ms (default 5,000). */
  abandonAfterMs?: number;
  /** Default retention of finished tasks, in ms (default 1 day). */
  resultTtlMs?: number;
  /** Largest return value, in bytes of JSON (default 1 MiB). */
  maxResultBytes?: number;
  workerId?: string;
}

export interface RunnerEvents {
  claimed: [tasks: Task[]];
  /** An attempt ended and its outcome is stored (or dropped: `lost`). */
  finished: [task: Task, outcome: Outcome['kind']];
  error: [error: unknown];
}

export interface Runner extends EventEmitter<RunnerEvents> {
  readonly workerId: string;
  /** Tasks running now. */
  readonly running: number;
  start(): Promise<void>;
  /** Graceful: stop claiming, wait for running tasks (up to the grace), release the rest. */
  stop(): Promise<void>;
}

interface Running {
  task: Task;
  controller: AbortController;
}

/**
 * A worker: claims batches into free slots, runs them, records outcomes, keeps leases
 * alive. Woken by NOTIFY on the jobs channel, with a poll as the fallback (NOTIFY is a
 * hint: it can be missed while the listening connection reconnects).
 */
export function createRunner(options: RunnerOptions): Runner {
  const o = {
    concurrency: 10,
    queues: [] as readonly string[],
    pollIntervalMs: 1000,
    leaseMs: 30_000,
    heartbeatMs: 10_000,
    shutdownGraceMs: 30_000,
    abandonAfterMs: 5000,
    resultTtlMs: 86_400_000,
    maxResultBytes: 1_048_576,
    ...options,
  };
  const { sql, registry } = o;
  const workerId = o.workerId ?? createWorkerId();
  const log = o.log.child({ workerId });
  const emitter = new EventEmitter<RunnerEvents>();
  const running = new Map<string, Running>();
  const inFlight = new Set<Promise<void>>();
  let listener: Listener | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let started = false;
  let stopping = false;
  let claiming = false;
  let wakeAgain = false;
  // Did the last claim fill every slot it asked for? Then more may be waiting, and a freed
  // slot should claim at once rather than wait for a notification.
  let moreMaybe = true;
  let claimErrors = 0;

  const completions = createCompletionBatcher();

  function wake(): void {
    if (stopping || !started) return;
    if (claiming) {
      wakeAgain = true;
      return;
    }
    void claimLoop();
  }

  async function claimLoop(): Promise<void> {
    claiming = true;
    try {
      do {
        wakeAgain = false;
        while (!stopping) {
          const free = o.concurrency - running.size;
          if (free <= 0) {
            moreMaybe = true;
            break;
          }
          let tasks: Task[];
          try {
            tasks = await claimTasks(sql, { workerId, limit: free, queues: o.queues, leaseMs: o.leaseMs });
            claimErrors = 0;
          } catch (error) {
            // Database away: back off (capped) and let the poll timer try again.
            claimErrors += 1;
            if (claimErrors === 1 || claimErrors % 10 === 0) log.warn({ err: error, failures: claimErrors }, 'claim failed; retrying');
            emitter.emit('error', error);
            await delay(Math.min(5000, 100 * 2 ** Math.min(claimErrors, 6)));
            break;
          }
          if (tasks.length > 0) emitter.emit('claimed', tasks);
          for (const task of tasks) start(task);
          moreMaybe = tasks.length === free;
          if (!moreMaybe) break;
        }
      } while (wakeAgain && !stopping);
    } finally {
      claiming = false;
    }
  }

  function start(task: Task): void {
    const controller = new AbortController();
    running.set(task.id, { task, controller });
    const done = (async () => {
      const outcome = await executeTask({
        task,
        definition: registry.get(task.name),
        workerId,
        controller,
        abandonAfterMs: o.abandonAfterMs,
        maxResultBytes: o.maxResultBytes,
        progress: progressReporter(task),
        log,
      });
      await record(task, outcome);
      running.delete(task.id);
      emitter.emit('finished', task, outcome.kind);
      if (moreMaybe) wake();
    })();
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  }

  /** Stores an outcome, retrying while the database is away (up to a lease: after that the rescuer owns it). */
  async function record(task: Task, outcome: Outcome): Promise<void> {
    const deadline = Date.now() + o.leaseMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await store(task, outcome);
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          log.error({ err: error, taskId: task.id }, 'could not record the outcome; the rescuer will take the task back');
          return;
        }
        if (attempt === 1) log.warn({ err: error, taskId: task.id }, 'recording the outcome failed; retrying');
        await delay(Math.min(2000, 50 * 2 ** attempt));
      }
    }
  }

  async function store(task: Task, outcome: Outcome): Promise<void> {
    const defaultTtlMs = o.resultTtlMs;
    switch (outcome.kind) {
      case 'succeeded':
        await completions.add({ id: task.id, returnValue: outcome.returnValue });
        return;
      case 'failed': {
        const definition = registry.get(task.name);
        const retryDelayMs = outcome.retryable ? backoffDelayMs(task.backoff ?? definition?.backoff, task.attempts) : null;
        await failTask(sql, { id: task.id, workerId, error: errorJson(outcome.error, task), retryDelayMs, defaultTtlMs });
        return;
      }
      case 'cancelled':
        await finishCancelledTask(sql, {
          id: task.id,
          workerId,
          error: outcome.error ? errorJson(outcome.error, task) : null,
          defaultTtlMs,
        });
        return;
      case 'released':
        await releaseTasks(sql, { workerId, ids: [task.id], defaultTtlMs });
        return;
      case 'lost':
        return;
    }
  }

  function errorJson(error: AttemptError, task: Task): string {
    return JSON.stringify({ ...error, attempt: task.attempts, at: new Date().toISOString(), workerId });
  }

  /** Progress writes are coalesced: one in flight per task, and only the latest waiting one is written next. */
  function progressReporter(task: Task): (update: ProgressUpdate) => Promise<void> {
    let writing: Promise<void> | undefined;
    let next: ProgressUpdate | undefined;
    const write = async (): Promise<void> => {
      while (next) {
        const update = next;
        next = undefined;
        await updateProgress(sql, {
          id: task.id,
          workerId,
          current: finiteOrNull(update.current),
          total: finiteOrNull(update.total),
          message: typeof update.message === 'string' ? update.message.slice(0, 1000) : null,
        }).catch((error: unknown) => log.warn({ err: error, taskId: task.id }, 'progress update failed'));
      }
      writing = undefined;
    };
    return (update) => {
      next = update;
      writing ??= write();
      return writing;
    };
  }

  async function heartbeat(): Promise<void> {
    const ids = [...running.keys()];
    if (ids.length === 0) return;
    try {
      const states = await extendLeases(sql, { workerId, ids, leaseMs: o.leaseMs });
      const held = new Map(states.map((s) => [s.id, s]));
      for (const id of ids) {
        const state = held.get(id);
        if (!state) abort(id, 'lost');
        else if (state.cancelRequested) abort(id, 'cancel');
      }
    } catch (error) {
      log.warn({ err: error }, 'heartbeat failed');
    }
  }

  function abort(id: string, reason: AbortReason): void {
    const entry = running.get(id);
    if (entry && !entry.controller.signal.aborted) entry.controller.abort(reason);
  }

  function onJobsNotification(payload: string): void {
    if (payload.startsWith('cancel:')) {
      abort(payload.slice('cancel:'.length), 'cancel');
      return;
    }
    if (o.queues.length === 0 || o.queues.includes(payload)) wake();
  }

  function createCompletionBatcher() {
    // One statement in flight; completions that arrive meanwhile ride the next one. No
    // timer: an idle worker records a result at once, a busy one in batches.
    let queue: { completion: Completion; resolve: () => void; reject: (e: unknown) => void }[] = [];
    let flushing = false;
    const flush = async (): Promise<void> => {
      flushing = true;
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        try {
          await completeTasks(sql, workerId, batch.map((b) => b.completion), o.resultTtlMs);
          for (const b of batch) b.resolve();
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
      flushing = false;
    };
    return {
      add(completion: Completion): Promise<void> {
        return new Promise<void>((resolve, reject) => {
          queue.push({ completion, resolve, reject });
          if (!flushing) void flush();
        });
      },
    };
  }

  return Object.assign(emitter, {
    workerId,
    get running() {
      return running.size;
    },
    async start() {
      if (started) return;
      started = true;
      listener = await listen(sql, JOBS_CHANNEL, {
        onNotify: onJobsNotification,
        // After a reconnect notifications may have been missed: look for work.
        onListen: () => wake(),
      });
      pollTimer = setInterval(wake, o.pollIntervalMs);
      heartbeatTimer = setInterval(() => void heartbeat(), o.heartbeatMs);
      log.info({ concurrency: o.concurrency, queues: o.queues }, 'worker started');
      wake();
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(pollTimer);
      await listener?.close().catch(() => undefined);
      if (running.size > 0) {
        log.info({ running: running.size, graceMs: o.shutdownGraceMs }, 'waiting for running tasks');
        const graceOver = delay(o.shutdownGraceMs, 'timeout' as const);
        const drained = Promise.all([...inFlight]).then(() => 'drained' as const);
        if ((await Promise.race([graceOver, drained])) === 'timeout') {
          log.warn({ running: running.size }, 'grace period over; releasing running tasks');
          for (const id of running.keys()) abort(id, 'shutdown');
        }
      }
      // Wait for claims under way too: a claim that lands now must be run or released.
      while (claiming || inFlight.size > 0) await Promise.race([...inFlight, delay(10)]);
      clearInterval(heartbeatTimer);
      log.info('worker stopped');
    },
  }) as Runner;
}

function finiteOrNull(value: number | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
