import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import { extendLeases, isCancelRequested, type LeaseState } from '../queue/sql/extend-leases.js';
import type { Task } from '../queue/task.js';
import { abortAttempt, type HeldTasks } from './held-tasks.js';
import { isTransient } from './write-retry.js';

/** Why a task claimed ahead is taken out of the waiting line before it started. */
export type DropReason = 'lost' | 'cancel';

export interface LeaseKeeperOptions {
  sql: Sql;
  workerId: string;
  log: Logger;
  held: HeldTasks;
  /** Lease per renewal, in ms. */
  leaseMs: number;
  /** Renewal interval, in ms. */
  heartbeatMs: number;
  /** A task claimed ahead that still waits for a slot after this long goes back to the queue, in ms. */
  releaseWaitingAfterMs: number;
  /** Hands tasks that never started back to the queue. Never throws. */
  handBack(tasks: readonly Task[]): Promise<void>;
  /** The tasks handed back were claimed on a wrong estimate of the run time: forget it. */
  forgetRunTimeEstimate(): void;
  /** A waiting task taken out of the line: lost (nothing to record) or cancelled (to record as CANCELLED). */
  dropWaiting(task: Task, reason: DropReason): void;
  /** Whether a claim of this worker's is under way (ClaimLoop.claiming). */
  claiming(): boolean;
}

/**
 * Keeps what the worker holds actually its own: every `heartbeatMs` it hands back tasks that
 * waited too long for a slot, then renews the leases of the rest and stops the attempts the
 * database says are no longer this worker's, or whose cancellation was asked for. Cancel
 * requests that arrive by notification are routed here too, so they act at once.
 */
export interface LeaseKeeper {
  /** Starts the heartbeat timer. */
  start(): void;
  /** Stops the heartbeat timer (a renewal under way finishes on its own). */
  stop(): void;
  /** Renews the leases of every held task; aborts the attempts that are lost or cancelled. Never throws. */
  renewLeases(): Promise<void>;
  /** Hands back the tasks claimed ahead that waited longer than releaseWaitingAfterMs. Never throws. */
  handBackStaleWaiting(): Promise<void>;
  /** Stops task `id` here because its cancellation was asked for: aborts its running attempt, drops it from the line. */
  routeCancel(id: string): void;
  /** Tasks a claim just brought in (held already): those whose cancel notice came while that claim was under way are routed now. */
  accepted(tasks: readonly Task[]): void;
}

/** Most cancel notices kept for a claim under way (the oldest go first); far more than one claim's tasks are ever cancelled during it. */
const MAX_NOTICES_DURING_CLAIM = 1000;

/**
 * After a renewal the database refused (away, full), the next one comes this soon rather than a
 * heartbeat later: once it takes writes again, the leases that ran out meanwhile are renewed within
 * this, before a rescuer whose wait after the outage ends about then takes the tasks back (a tester's
 * full disk: live tasks FAILED WorkerLost a second after the space came back, the heartbeat 10 s off).
 */
export const RENEW_AGAIN_AFTER_FAILURE_MS = 250;

/**
 * Whether the row's current attempt is the one this Task was claimed for. The number and the claim's
 * stamp: a task claimed ahead that a rescue gave back (attempts − 1) and this worker claimed again has
 * the same number, a new stamp.
 */
function sameAttempt(state: LeaseState, task: Task): boolean {
  return state.attempts === task.attempts && state.lastAttemptedAt?.getTime() === task.lastAttemptedAt?.getTime();
}

export function createLeaseKeeper(o: LeaseKeeperOptions): LeaseKeeper {
  const { held, log } = o;
  let timer: NodeJS.Timeout | undefined;
  // Cancel notices for tasks not held, heard while a claim was under way: the claim may have taken
  // one of them (committed, so cancellable, before its answer got here). Forgotten once no claim is.
  const heardDuringClaim = new Set<string>();
  /** Renewals failed in a row. */
  let failures = 0;

  async function renewLeases(): Promise<void> {
    const attempts = held.runningAttempts();
    const waiting = held.waitingTasks();
    // Started tasks apart from waiting ones: the renewal clears their mark of a task claimed ahead,
    // so a worker lost from now on has made an attempt of them that counts (docs/decisions.md).
    const { waiting: ids, started } = held.leaseIds();
    if (ids.length === 0 && started.length === 0) return;
    try {
      const states = new Map((await extendLeases(o.sql, { workerId: o.workerId, ids, started, leaseMs: o.leaseMs })).map((s) => [s.id, s]));
      for (const attempt of attempts) {
        const state = states.get(attempt.task.id);
        // Not ours any more, or ours in a newer attempt: this attempt was given up on.
        if (!state || !sameAttempt(state, attempt.task)) abortAttempt(attempt, 'lost');
        else if (state.cancelRequested) abortAttempt(attempt, 'cancel');
      }
      for (const task of waiting) {
        const state = states.get(task.id);
        if (!state || !sameAttempt(state, task)) o.dropWaiting(task, 'lost');
        else if (state.cancelRequested) o.dropWaiting(task, 'cancel');
      }
      if (failures > 0) log.info({ failures }, 'heartbeat works again');
      failures = 0;
    } catch (error) {
      failures += 1;
      // Tried again every RENEW_AGAIN_AFTER_FAILURE_MS while the database is away: one line a heartbeat's worth.
      if (failures === 1 || failures % Math.max(1, Math.round(o.heartbeatMs / RENEW_AGAIN_AFTER_FAILURE_MS)) === 0) log.warn({ err: error, failures }, 'heartbeat failed');
      if (isTransient(error) && timer !== undefined) renewSoon();
    }
  }

  let soon: NodeJS.Timeout | undefined;
  function renewSoon(): void {
    if (soon !== undefined) return;
    soon = setTimeout(() => {
      soon = undefined;
      void renewLeases();
    }, Math.min(RENEW_AGAIN_AFTER_FAILURE_MS, o.heartbeatMs));
  }

  // Handlers turned slow since the claim: another worker's free slot can take these.
  async function handBackStaleWaiting(): Promise<void> {
    const stale = held.takeWaitingSince(performance.now() - o.releaseWaitingAfterMs);
    if (stale.length === 0) return;
    // The estimate that claimed them was wrong: forgotten, so they are not claimed straight back;
    // the next handlers to finish build a new one.
    o.forgetRunTimeEstimate();
    log.info({ tasks: stale.length }, 'releasing tasks that waited too long for a slot');
    await o.handBack(stale);
  }

  function routeCancel(id: string): void {
    const holds = (): boolean => held.runningAttempts().some((a) => a.task.id === id) || held.waitingTasks().some((t) => t.id === id);
    if (!holds()) {
      // Most notifications are for tasks other workers hold; one may be for a task claimed here whose claim has not answered yet.
      if (o.claiming()) {
        heardDuringClaim.add(id);
        if (heardDuringClaim.size > MAX_NOTICES_DURING_CLAIM) heardDuringClaim.delete(heardDuringClaim.values().next().value as string);
      }
      return;
    }
    // Acted on once the database says the cancellation was asked for: the notification alone is
    // anyone's to send who may NOTIFY (a queue named `cancel:<id>` once sent one for every enqueue).
    // One read per cancel; a failed read leaves it to the next heartbeat, which reads the flag too.
    isCancelRequested(o.sql, id).then(
      (requested) => {
        if (!requested) {
          log.warn({ taskId: id }, 'a cancel notification for a task whose cancellation was not requested: ignored');
          return;
        }
        for (const attempt of held.runningAttempts()) if (attempt.task.id === id) abortAttempt(attempt, 'cancel');
        for (const task of held.waitingTasks()) if (task.id === id) o.dropWaiting(task, 'cancel');
      },
      (error: unknown) => log.warn({ err: error, taskId: id }, 'reading a cancel request failed; the next heartbeat reads it again'),
    );
  }

  function accepted(tasks: readonly Task[]): void {
    if (heardDuringClaim.size > 0) {
      for (const task of tasks) if (heardDuringClaim.delete(task.id)) routeCancel(task.id);
    }
    if (!o.claiming()) heardDuringClaim.clear();
  }

  // Stale ones first: what goes back needs no renewal.
  const beat = async (): Promise<void> => {
    await handBackStaleWaiting();
    await renewLeases();
  };

  return {
    start() {
      timer ??= setInterval(() => void beat(), o.heartbeatMs);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      clearTimeout(soon);
      soon = undefined;
    },
    renewLeases,
    handBackStaleWaiting,
    routeCancel,
    accepted,
  };
}
