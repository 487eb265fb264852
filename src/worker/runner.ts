import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import { JOBS_CHANNEL, listen, type Listener } from '../queue/events.js';
import { claimTasks } from '../queue/sql/claim-tasks.js';
import { extendLeases } from '../queue/sql/extend-leases.js';
import { releaseTasks } from '../queue/sql/release-tasks.js';
import type { Task } from '../queue/task.js';
import { executeTask, type AbortReason, type Outcome } from './execute-task.js';
import { createOutcomeStore } from './outcome-store.js';
import type { Registry } from './registry.js';
import { createWorkerId } from './worker-id.js';

export interface RunnerOptions {
  sql: Sql;
  registry: Registry;
  log: Logger;
  /** Tasks run at once (default 10). */
  concurrency?: number;
  /**
   * Claim ahead: besides its free slots, a claim takes as many tasks as the slots are expected
   * to start within this many ms, judged by how long recent handlers took (default 10; 0: claim
   * only into free slots). Fast tasks then cost one claim per few hundred rather than per ten;
   * slow ones are never claimed ahead of time. See docs/decisions.md "Claiming ahead".
   */
  prefetchMs?: number;
  /** A task claimed ahead that still waits for a slot after this long goes back to the queue at the next heartbeat, in ms (default 1,000). */
  releaseWaitingAfterMs?: number;
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
  /** Tasks claimed ahead, waiting for a slot (see `prefetchMs`). */
  readonly waiting: number;
  start(): Promise<void>;
  /** Graceful: stop claiming, wait for running tasks (up to the grace), release the rest. */
  stop(): Promise<void>;
}

interface Running {
  task: Task;
  controller: AbortController;
}

interface Waiting {
  task: Task;
  /** When it was claimed (Date.now()). */
  at: number;
}

/** Most tasks claimed ahead of free slots (graphile-worker's local queue holds 500). */
const MAX_AHEAD = 1000;

/**
 * A worker: claims batches into its free slots (and, for fast handlers, ahead of them: see
 * `prefetchMs`), runs them, records outcomes, keeps leases alive. Woken by NOTIFY on the jobs
 * channel, with a poll as the fallback (NOTIFY is a hint: it can be missed while the listening
 * connection reconnects).
 */
export function createRunner(options: RunnerOptions): Runner {
  const o = {
    concurrency: 10,
    prefetchMs: 10,
    releaseWaitingAfterMs: 1000,
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
  // Keyed by attempt (`id:attempts`), not by task: after its lease was taken back, a task can
  // be claimed again by this same worker while the old attempt's handler still runs.
  const running = new Map<string, Running>();
  // Claimed ahead of a free slot, in claim (priority) order; started as slots free up.
  let waiting: Waiting[] = [];
  // Handler done, outcome not yet stored (a batch in flight, or retries while the database is
  // away): still ours, so heartbeats keep their leases, or the rescuer would run them again.
  const recording = new Map<string, Task>();
  // Average handler time in ms (exponentially weighted), the basis of how far ahead to claim;
  // unknown until a first task ran, so a fresh worker claims only into free slots.
  let averageRunMs: number | undefined;
  const inFlight = new Set<Promise<void>>();
  let listener: Listener | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let started = false;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let claiming: Promise<void> | undefined;
  let wakeAgain = false;
  // Aborted by stop(): cuts short the claim back-off and the grace period's timer, so
  // neither keeps stop() (or the process's event loop) waiting once there is nothing to do.
  const stopController = new AbortController();
  // Did the last claim fill every slot it asked for? Then more may be waiting, and a freed
  // slot should claim at once rather than wait for a notification.
  let moreMaybe = true;
  let claimErrors = 0;

  // Heartbeats keep the lease of a task whose outcome is being retried (`recording`), so the
  // write may be retried for longer than one lease; past that the rescuer takes the task back.
  const outcomes = createOutcomeStore({ sql, registry, workerId, log, resultTtlMs: o.resultTtlMs, retryForMs: 3 * o.leaseMs });

  function wake(): void {
    if (stopping || !started) return;
    if (claiming) {
      wakeAgain = true;
      return;
    }
    claiming = claimLoop().finally(() => {
      claiming = undefined;
      // A wake-up that came after the loop's last look (a slot freed in between) would
      // otherwise wait for the next poll.
      if (wakeAgain) wake();
    });
  }

  /** How many tasks to hold beyond the free slots: what the slots should start within prefetchMs. */
  function claimAhead(): number {
    if (o.prefetchMs <= 0 || averageRunMs === undefined) return 0;
    return Math.min(MAX_AHEAD, Math.floor((o.concurrency * o.prefetchMs) / Math.max(averageRunMs, 0.01)));
  }

  /**
   * Tasks the next claim should take, or 0 when it should wait: with tasks in hand, the lead
   * is topped up only once a quarter of it is used, so that a fast drain makes one claim of
   * many rather than many claims of one. Tasks whose outcome is still being written count as in
   * hand: when writes fall behind, claiming waits for them, so a worker that dies never leaves
   * more than `concurrency + ahead` tasks to be run again (a backlog of 956 finished but
   * unrecorded tasks was seen in test/reliability/worker-kill.test.ts before this).
   */
  function claimWanted(): number {
    const ahead = claimAhead();
    const want = o.concurrency - running.size + ahead - waiting.length - recording.size;
    if (want <= 0 || (waiting.length > 0 && want < ahead / 4)) return 0;
    return want;
  }

  async function claimLoop(): Promise<void> {
    try {
      do {
        wakeAgain = false;
        while (!stopping) {
          const want = claimWanted();
          if (want === 0) {
            moreMaybe = true;
            break;
          }
          let tasks: Task[];
          try {
            tasks = await claimTasks(sql, { workerId, limit: want, queues: o.queues, leaseMs: o.leaseMs });
            claimErrors = 0;
          } catch (error) {
            // Database away: back off (capped) and let the poll timer try again.
            claimErrors += 1;
            if (claimErrors === 1 || claimErrors % 10 === 0) log.warn({ err: error, failures: claimErrors }, 'claim failed; retrying');
            // EventEmitter throws an 'error' nobody listens to: that would turn a database
            // blip into an unhandled rejection that ends the process.
            if (emitter.listenerCount('error') > 0) emitter.emit('error', error);
            await delay(Math.min(5000, 100 * 2 ** Math.min(claimErrors, 6)), undefined, { signal: stopController.signal }).catch(
              () => undefined,
            );
            break;
          }
          if (stopping) {
            // stop() began during the claim: these never start, and go straight back.
            await releaseWaiting(tasks);
            break;
          }
          const at = Date.now();
          for (const task of tasks) waiting.push({ task, at });
          // Started before anyone hears of them: claimed tasks must run whatever a listener does.
          fillSlots();
          if (tasks.length > 0) notify('claimed', tasks);
          moreMaybe = tasks.length === want;
          if (!moreMaybe) break;
        }
      } while (wakeAgain && !stopping);
    } catch (error) {
      // Nothing above should throw; if something does, the next wake-up or poll tries again.
      log.error({ err: error }, 'claim loop failed');
    }
  }

  /** Starts waiting tasks while there are free slots. */
  function fillSlots(): void {
    while (running.size < o.concurrency && waiting.length > 0 && !stopping) start((waiting.shift() as Waiting).task);
  }

  /** Hands tasks that never started back to the queue (shutdown, or waited too long). */
  async function releaseWaiting(tasks: readonly Task[]): Promise<void> {
    if (tasks.length === 0) return;
    try {
      await releaseTasks(sql, { workerId, attempts: tasks.map((t) => ({ id: t.id, attempt: t.attempts })), defaultTtlMs: o.resultTtlMs });
    } catch (error) {
      // Still RUNNING under this worker: the rescuer takes them back when the lease ends.
      log.warn({ err: error, tasks: tasks.length }, 'could not release claimed tasks; the rescuer will take them back');
    }
    for (const task of tasks) notify('finished', task, 'released');
  }

  /** Emits to listeners; one that throws is logged, never allowed to break the runner. */
  function notify<E extends 'claimed' | 'finished'>(event: E, ...args: RunnerEvents[E]): void {
    try {
      (emitter.emit as (e: E, ...a: RunnerEvents[E]) => boolean)(event, ...args);
    } catch (error) {
      log.error({ err: error, event }, 'a runner event listener threw');
    }
  }

  function start(task: Task): void {
    // An older attempt of this task still here lost its lease (we hold a newer one): stop it.
    for (const entry of running.values()) if (entry.task.id === task.id) abortEntry(entry, 'lost');
    const key = attemptKey(task);
    const controller = new AbortController();
    running.set(key, { task, controller });
    const done = (async (): Promise<void> => {
      const began = performance.now();
      try {
        const outcome = await executeTask({
          task,
          definition: registry.get(task.name),
          workerId,
          controller,
          abandonAfterMs: o.abandonAfterMs,
          maxResultBytes: o.maxResultBytes,
          progress: outcomes.progressReporter(task),
          log,
        });
        // The slot is free as soon as the handler is done: claim the next task while this
        // outcome is being written (the write batches with others meanwhile). Waiting for the
        // commit first left slots idle for a round trip per task (bench/README.md).
        running.delete(key);
        recording.set(key, task);
        const ranMs = performance.now() - began;
        averageRunMs = averageRunMs === undefined ? ranMs : averageRunMs + (ranMs - averageRunMs) * 0.2;
        fillSlots();
        if (moreMaybe && claimWanted() > 0) wake();
        await outcomes.record(task, outcome);
        notify('finished', task, outcome.kind);
      } catch (error) {
        // executeTask never throws and record gives up quietly: this is a last line of
        // defence, so that a bug here can neither leak the slot nor end the process.
        log.error({ err: error, taskId: task.id }, 'task bookkeeping failed');
      } finally {
        running.delete(key);
        recording.delete(key);
      }
      fillSlots();
      if (moreMaybe && claimWanted() > 0) wake();
    })();
    inFlight.add(done);
    void done.then(() => inFlight.delete(done)); // never rejects: see the catch above
  }

  async function heartbeat(): Promise<void> {
    await releaseStale();
    const entries = [...running.values()];
    const held = waiting.map((w) => w.task);
    if (entries.length === 0 && held.length === 0 && recording.size === 0) return;
    try {
      const ids = [...new Set([...entries.map((e) => e.task.id), ...held.map((t) => t.id), ...[...recording.values()].map((t) => t.id)])];
      const states = new Map((await extendLeases(sql, { workerId, ids, leaseMs: o.leaseMs })).map((s) => [s.id, s]));
      for (const entry of entries) {
        const state = states.get(entry.task.id);
        // Not ours any more, or ours in a newer attempt: this attempt was given up on.
        if (!state || state.attempts !== entry.task.attempts) abortEntry(entry, 'lost');
        else if (state.cancelRequested) abortEntry(entry, 'cancel');
      }
      for (const task of held) {
        const state = states.get(task.id);
        if (!state || state.attempts !== task.attempts) dropWaiting(task, 'lost');
        else if (state.cancelRequested) dropWaiting(task, 'cancel');
      }
    } catch (error) {
      log.warn({ err: error }, 'heartbeat failed');
    }
  }

  /**
   * Tasks claimed ahead that still wait after releaseWaitingAfterMs (handlers turned slow since
   * the claim) go back to the queue, where another worker's free slot can take them.
   */
  async function releaseStale(): Promise<void> {
    const before = Date.now() - o.releaseWaitingAfterMs;
    if (waiting.length === 0 || (waiting[0] as Waiting).at > before) return;
    const stale = waiting.filter((w) => w.at <= before).map((w) => w.task);
    waiting = waiting.filter((w) => w.at > before);
    // The estimate that claimed them was wrong: forget it, so they are not claimed straight back;
    // the next handlers to finish build a new one.
    averageRunMs = undefined;
    log.info({ tasks: stale.length }, 'releasing tasks that waited too long for a slot');
    await releaseWaiting(stale);
  }

  /** A waiting task that is no longer ours, or whose cancellation was asked for, never starts. */
  function dropWaiting(task: Task, reason: 'lost' | 'cancel'): void {
    const index = waiting.findIndex((w) => w.task === task);
    if (index < 0) return;
    waiting.splice(index, 1);
    if (reason === 'lost') {
      notify('finished', task, 'lost');
      return;
    }
    const cancelled = (async (): Promise<void> => {
      await outcomes.record(task, { kind: 'cancelled', error: null });
      notify('finished', task, 'cancelled');
    })();
    inFlight.add(cancelled);
    void cancelled.then(() => inFlight.delete(cancelled));
  }

  /** Aborts every attempt of task `id` running here (there is at most one live one). */
  function abort(id: string, reason: AbortReason): void {
    for (const entry of running.values()) if (entry.task.id === id) abortEntry(entry, reason);
    for (const w of waiting.filter((w) => w.task.id === id)) dropWaiting(w.task, reason === 'cancel' ? 'cancel' : 'lost');
  }

  function abortEntry(entry: Running, reason: AbortReason): void {
    if (!entry.controller.signal.aborted) entry.controller.abort(reason);
  }

  function onJobsNotification(payload: string): void {
    if (payload.startsWith('cancel:')) {
      abort(payload.slice('cancel:'.length), 'cancel');
      return;
    }
    if (o.queues.length === 0 || o.queues.includes(payload)) wake();
  }

  async function shutdown(): Promise<void> {
    stopping = true;
    clearInterval(pollTimer);
    // A claim under way may still land tasks: wait for it first, so that they are started
    // now and come under the grace period below, rather than run unbounded after it.
    stopController.abort();
    await claiming;
    // Claimed ahead but never started: back to the queue at once, for other workers.
    const held = waiting.map((w) => w.task);
    waiting = [];
    await releaseWaiting(held);
    if (running.size > 0) {
      log.info({ running: running.size, graceMs: o.shutdownGraceMs }, 'waiting for running tasks');
      // Cancelled once drained: a pending 30 s timer would keep the process alive after stop().
      const graceTimer = new AbortController();
      const graceOver = delay(o.shutdownGraceMs, 'timeout' as const, { signal: graceTimer.signal }).catch(() => 'drained' as const);
      const drained = Promise.all([...inFlight]).then(() => 'drained' as const);
      const first = await Promise.race([graceOver, drained]);
      graceTimer.abort();
      if (first === 'timeout') {
        log.warn({ running: running.size }, 'grace period over; releasing running tasks');
        for (const entry of running.values()) abortEntry(entry, 'shutdown');
      }
    }
    // Aborted handlers end within abandonAfterMs; their outcomes (released) are stored here.
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    clearInterval(heartbeatTimer);
    // Listening until now, so a task cancelled during the grace period hears of it at once
    // (wake-ups are ignored once stopping).
    await listener?.close().catch(() => undefined);
    log.info('worker stopped');
  }

  // Object.assign would copy `running` once, as the number it is now: define it as a getter.
  Object.defineProperty(emitter, 'running', { get: () => running.size, enumerable: true });
  Object.defineProperty(emitter, 'waiting', { get: () => waiting.length, enumerable: true });
  return Object.assign(emitter, {
    workerId,
    async start() {
      if (started || stopping) return;
      started = true;
      try {
        listener = await listen(sql, JOBS_CHANNEL, {
          onNotify: onJobsNotification,
          // After a reconnect notifications may have been missed: look for work. Logged, so
          // an operator sees the worker came back after a database restart.
          onListen: (reconnected) => {
            if (reconnected) log.info('jobs listener reconnected; looking for work');
            wake();
          },
        });
      } catch (error) {
        started = false;
        throw error;
      }
      if (stopping) {
        // stop() ran while LISTEN was being set up: it found nothing to close.
        await listener.close().catch(() => undefined);
        return;
      }
      pollTimer = setInterval(wake, o.pollIntervalMs);
      heartbeatTimer = setInterval(() => void heartbeat(), o.heartbeatMs);
      log.info({ concurrency: o.concurrency, queues: o.queues }, 'worker started');
      wake();
    },
    stop() {
      // A second call waits for the same shutdown rather than returning before it is done.
      stopped ??= shutdown();
      return stopped;
    },
  }) as Runner;
}

function attemptKey(task: Task): string {
  return `${task.id}:${task.attempts}`;
}
