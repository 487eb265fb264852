import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import { JOBS_CHANNEL, listen, type Listener } from '../queue/events.js';
import { claimTasks } from '../queue/sql/claim-tasks.js';
import { extendLeases } from '../queue/sql/extend-leases.js';
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
  // Keyed by attempt (`id:attempts`), not by task: after its lease was taken back, a task can
  // be claimed again by this same worker while the old attempt's handler still runs.
  const running = new Map<string, Running>();
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

  const outcomes = createOutcomeStore({ sql, registry, workerId, log, resultTtlMs: o.resultTtlMs, retryForMs: o.leaseMs });

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

  async function claimLoop(): Promise<void> {
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
            // EventEmitter throws an 'error' nobody listens to: that would turn a database
            // blip into an unhandled rejection that ends the process.
            if (emitter.listenerCount('error') > 0) emitter.emit('error', error);
            await delay(Math.min(5000, 100 * 2 ** Math.min(claimErrors, 6)), undefined, { signal: stopController.signal }).catch(
              () => undefined,
            );
            break;
          }
          // Started before anyone hears of them: claimed tasks must run whatever a listener does.
          for (const task of tasks) start(task);
          if (tasks.length > 0) notify('claimed', tasks);
          moreMaybe = tasks.length === free;
          if (!moreMaybe) break;
        }
      } while (wakeAgain && !stopping);
    } catch (error) {
      // Nothing above should throw; if something does, the next wake-up or poll tries again.
      log.error({ err: error }, 'claim loop failed');
    }
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
        if (moreMaybe) wake();
        await outcomes.record(task, outcome);
        notify('finished', task, outcome.kind);
      } catch (error) {
        // executeTask never throws and record gives up quietly: this is a last line of
        // defence, so that a bug here can neither leak the slot nor end the process.
        log.error({ err: error, taskId: task.id }, 'task bookkeeping failed');
      } finally {
        running.delete(key);
      }
      if (moreMaybe) wake();
    })();
    inFlight.add(done);
    void done.then(() => inFlight.delete(done)); // never rejects: see the catch above
  }

  async function heartbeat(): Promise<void> {
    const entries = [...running.values()];
    if (entries.length === 0) return;
    try {
      const ids = [...new Set(entries.map((e) => e.task.id))];
      const states = await extendLeases(sql, { workerId, ids, leaseMs: o.leaseMs });
      const held = new Map(states.map((s) => [s.id, s]));
      for (const entry of entries) {
        const state = held.get(entry.task.id);
        // Not ours any more, or ours in a newer attempt: this attempt was given up on.
        if (!state || state.attempts !== entry.task.attempts) abortEntry(entry, 'lost');
        else if (state.cancelRequested) abortEntry(entry, 'cancel');
      }
    } catch (error) {
      log.warn({ err: error }, 'heartbeat failed');
    }
  }

  /** Aborts every attempt of task `id` running here (there is at most one live one). */
  function abort(id: string, reason: AbortReason): void {
    for (const entry of running.values()) if (entry.task.id === id) abortEntry(entry, reason);
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
