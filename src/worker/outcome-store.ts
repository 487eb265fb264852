import { exponentialDelayMs } from '../exponential-delay.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.js';
import { withDeadline } from '../db/deadline.js';
import type { Logger } from '../logger.js';
import { backoffDelayMs } from '../queue/backoff.js';
import { storableText } from '../queue/json.js';
import { createMicroBatcher } from '../queue/micro-batcher.js';
import { completeTasks, type Completion } from '../queue/sql/complete-tasks.js';
import { failTasks, type Failure, type FailedStatus } from '../queue/sql/fail-tasks.js';
import { finishCancelledTask } from '../queue/sql/finish-cancelled-task.js';
import { releaseTasks } from '../queue/sql/release-tasks.js';
import { snoozeTask, snoozeTasks, type Snooze, type SnoozedStatus } from '../queue/sql/snooze-task.js';
import { updateProgress } from '../queue/sql/update-progress.js';
import type { Task } from '../queue/task.js';
import type { ProgressUpdate } from './define-task.js';
import type { AttemptError, Outcome } from './execute-task.js';
import type { Registry } from './registry.js';
import { givesUp, isTransient, type WriteRetryPolicy } from './write-retry.js';

/** `retryForMs`: how long a write the database refuses is tried again before the rescuer is left to take the task back (WriteRetryPolicy). */
export interface OutcomeStoreOptions extends WriteRetryPolicy {
  sql: Sql;
  registry: Registry;
  workerId: string;
  log: Logger;
  /** Default retention of finished tasks, in ms. */
  resultTtlMs: number;
  /** The clock an error's `at` is read from, in ms (RunnerOptions.now; default Date.now). */
  now?: () => number;
  /** A task this store put back to wait (a retry after its backoff, a snooze) is due again in `ms`. */
  dueAgainIn?(ms: number): void;
  /**
   * Longest wait for a write's answer, in ms (none by default): past it the write is tried again on
   * another connection (src/db/deadline.ts), rather than holding every later outcome of its kind
   * (a batched write), or the handler awaiting a progress update, behind a connection that stopped
   * answering. Hand-backs so stuck are left to the rescuer.
   */
  writeTimeoutMs?: number;
}

/** Where a runner writes what its attempts did. Every write is guarded by the attempt (see completeTasks). */
export interface OutcomeStore {
  /**
   * Stores an attempt's outcome, retrying while the database is away. Never throws. Resolves to
   * whether it was written: false when the guarded write found the attempt no longer RUNNING here
   * (the rescuer took it back meanwhile) or when the database stayed away past `retryForMs` (and
   * `keepWhileAway` said no).
   */
  record(task: Task, outcome: Outcome): Promise<boolean>;
  /** Hands tasks that never started back to the queue as they were (shutdown, or waited too long for a slot). Never throws. */
  handBack(tasks: readonly Task[]): Promise<void>;
  /** The `ctx.progress` of one attempt: writes coalesced, one in flight, the latest waiting one next. */
  progressReporter(task: Task): (update: ProgressUpdate) => Promise<void>;
}

export function createOutcomeStore(o: OutcomeStoreOptions): OutcomeStore {
  const { sql, workerId, log } = o;
  // Successful attempts are written in batches: one statement in flight, and completions that
  // arrive meanwhile ride the next one. No timer: an idle worker records a result at once, a
  // busy one in batches.
  // Each completion learns whether its row was written (a late result of an attempt the rescuer
  // took back is dropped by the statement's guard), so that the runner does not report it done.
  // Each statement carries at most BATCH_BYTES of results (src/queue/micro-batcher.ts), errors likewise.
  const completions = createMicroBatcher<Completion, boolean>({
    flushTimeoutMs: o.writeTimeoutMs,
    sizeOf: (c) => c.returnValue.length,
    flush: async (batch) => {
      const recorded = new Set(await completeTasks(sql, workerId, batch, o.resultTtlMs));
      return batch.map((c) => recorded.has(c.id));
    },
  });
  // Failed attempts likewise (a handler's dependency down makes every attempt fail at once, and
  // one statement each held a worker to ~1,100 a second): each learns what its task became, or
  // undefined when its row was no longer this attempt's.
  const failures = createMicroBatcher<Failure, FailedStatus | undefined>({
    flushTimeoutMs: o.writeTimeoutMs,
    sizeOf: (f) => f.error.length,
    flush: async (batch) => {
      const statuses = await failTasks(sql, workerId, batch, o.resultTtlMs);
      return batch.map((f) => statuses.get(f.id));
    },
  });
  // And snoozes (ctx.retryAfter on a rate-limited API: every attempt asks at once).
  const snoozes = createMicroBatcher<Snooze, SnoozedStatus | undefined>({
    flushTimeoutMs: o.writeTimeoutMs,
    flush: async (batch) => {
      const statuses = await snoozeTasks(sql, workerId, batch, o.resultTtlMs);
      return batch.map((s) => statuses.get(s.id));
    },
  });

  async function record(task: Task, outcome: Outcome): Promise<boolean> {
    const deadline = performance.now() + o.retryForMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const written = (await store(task, outcome)) === true;
        // A try that failed may have committed, its answer lost with the connection: the guarded
        // retry then finds the attempt ended — by this very outcome, which is then what to report.
        return written || (attempt > 1 && (await recordedBefore(task, outcome)));
      } catch (error) {
        if (givesUp(error, deadline, o)) {
          log.error({ err: error, taskId: task.id }, 'could not record the outcome; the rescuer will take the task back');
          return false;
        }
        if (attempt === 1) log.warn({ err: error, taskId: task.id }, 'recording the outcome failed; retrying');
        await delay(exponentialDelayMs(attempt, { baseMs: 50, maxMs: 2000 }));
      }
    }
  }

  /**
   * One try at storing an outcome. Not async: a success returns the batcher's own promise, so
   * that a drain's attempt does not pay for one more async frame and await (bench/README.md (a)).
   */
  function store(task: Task, outcome: Outcome): Promise<boolean> | undefined {
    const defaultTtlMs = o.resultTtlMs;
    const attempt = task.attempts;
    switch (outcome.kind) {
      case 'succeeded':
        return completions.add({ id: task.id, attempt, returnValue: outcome.returnValue, workflowId: task.workflowId });
      case 'failed': {
        const definition = o.registry.get(task.name);
        const retryDelayMs = outcome.retryable ? backoffDelayMs(task.backoff ?? definition?.backoff, attempt) : null;
        const error = errorJson(outcome.error, task);
        const failing = failures.add({ id: task.id, attempt, error, retryDelayMs, workflowId: task.workflowId });
        return failing.then((stored) => (retryDelayMs === null ? stored !== undefined : waitsAgain(stored, retryDelayMs)));
      }
      case 'cancelled': {
        const error = outcome.error ? errorJson(outcome.error, task) : null;
        return withDeadline(finishCancelledTask(sql, { id: task.id, attempt, workerId, error, defaultTtlMs }), o.writeTimeoutMs).then((stored) => stored !== undefined);
      }
      case 'snoozed':
        // A hand-back for want of a handler wakes the queue's workers, not this worker at the time it
        // is due: that worker was the first to look, and took the task back round after round while
        // one that has the handler waited for its poll.
        if (outcome.handedBack) {
          const snoozing = snoozeTask(sql, { id: task.id, attempt, workerId, delayMs: outcome.delayMs, defaultTtlMs, wake: true });
          return withDeadline(snoozing, o.writeTimeoutMs).then((stored) => stored !== undefined);
        }
        // Each try names the run (a snooze gives its attempt number back: see Snooze.run); a try given
        // up for its answer may still reach the database after the task was claimed again.
        return snoozes
          .add({ id: task.id, attempt, delayMs: outcome.delayMs, workflowId: task.workflowId, run: task.version })
          .then((stored) => waitsAgain(stored, outcome.delayMs));
      case 'released':
        return withDeadline(releaseTasks(sql, { workerId, attempts: [{ id: task.id, attempt }], defaultTtlMs }), o.writeTimeoutMs).then((released) => released.length > 0);
      case 'lost':
        return undefined;
    }
  }

  /**
   * Whether the database holds this outcome of this run already (read only after a try failed and a
   * later one found nothing to change): the event it writes, after the run's STARTED (the claimed
   * version), by this worker, for this attempt — SUCCEEDED; a failure's with this very error (its
   * time and worker in it; the rescuer writes its own); a snooze's SNOOZED (or CANCELLED, asked
   * meanwhile). Read by task_events_pkey from the run's start, so found even once the task has run
   * again since. Cancelled and released attempts are not looked for (rare; nothing counts them
   * apart). False when unsure.
   */
  async function recordedBefore(task: Task, outcome: Outcome): Promise<boolean> {
    const types = OUTCOME_EVENTS[outcome.kind];
    if (!types) return false;
    const error = outcome.kind === 'failed' ? errorJson(outcome.error, task) : null;
    try {
      const [row] = await sql`
        SELECT 1 AS found FROM task_events
        WHERE task_id = ${task.id} AND version > ${task.version} AND worker_id = ${workerId} AND attempt = ${task.attempts}
          AND type::text = ANY(${`{${types.join(',')}}`}::text[]) AND (${error}::jsonb IS NULL OR error = ${error}::jsonb)
        LIMIT 1`;
      if (row) log.info({ taskId: task.id, outcome: outcome.kind }, 'the outcome was stored by a try whose answer was lost');
      return row !== undefined;
    } catch {
      return false;
    }
  }

  /**
   * Tells the claim loop when a task stored as waiting is due (its run_after is the statement's
   * clock + delayMs, and that statement has committed). Returns whether the write took.
   */
  function waitsAgain(stored: FailedStatus | SnoozedStatus | undefined, delayMs: number): boolean {
    if (stored === 'RETRYING' || stored === 'PENDING') o.dueAgainIn?.(delayMs);
    return stored !== undefined;
  }

  async function handBack(tasks: readonly Task[]): Promise<void> {
    if (tasks.length === 0) return;
    try {
      await withDeadline(releaseTasks(sql, { workerId, attempts: tasks.map((t) => ({ id: t.id, attempt: t.attempts })), defaultTtlMs: o.resultTtlMs }), o.writeTimeoutMs);
    } catch (error) {
      // Still RUNNING under this worker: the rescuer takes them back when the lease ends.
      log.warn({ err: error, tasks: tasks.length }, 'could not release claimed tasks; the rescuer will take them back');
    }
  }

  // One encoding per error, kept across the tries of its write: recordedBefore looks for this text.
  const encodedErrors = new WeakMap<AttemptError, string>();
  function errorJson(error: AttemptError, task: Task): string {
    let json = encodedErrors.get(error);
    if (json === undefined) {
      json = JSON.stringify({ ...error, attempt: task.attempts, at: new Date(o.now?.() ?? Date.now()).toISOString(), workerId });
      encodedErrors.set(error, json);
    }
    return json;
  }

  // One closure and one small object per attempt (made for every attempt, used by few): the
  // writer below is shared.
  function progressReporter(task: Task): (update: ProgressUpdate) => Promise<void> {
    const state: ProgressState = { task, writing: undefined, next: undefined };
    return (update) => {
      state.next = update;
      state.writing ??= writeProgress(state);
      return state.writing;
    };
  }

  // A write the database refused (away, restarting) is tried again, as outcomes and output are:
  // progress reported during an outage is stored when it is back, not dropped. A newer update
  // that arrives meanwhile is the one tried (latest wins). Given up after `retryForMs` of failures.
  async function writeProgress(state: ProgressState): Promise<void> {
    const { task } = state;
    let failures = 0;
    let deadline = 0;
    while (state.next) {
      const update = state.next;
      state.next = undefined;
      try {
        const statement = updateProgress(sql, {
          id: task.id,
          attempt: task.attempts,
          workerId,
          current: finiteOrNull(update.current),
          total: finiteOrNull(update.total),
          message: typeof update.message === 'string' ? storableText(update.message.slice(0, 1000)) : null,
        });
        // A connection that stopped answering would keep the handler's awaited update (and every
        // later one of this attempt) waiting: tried again on another, like the outcomes.
        const stored = await withDeadline(statement, o.writeTimeoutMs);
        // Taken only after the attempt ended (its outcome recorded first: the runner waits one lease
        // for progress, an outage can last longer): a finished task keeps the progress it had.
        if (!stored && failures > 0) log.warn({ taskId: task.id }, 'progress not stored: the attempt ended before the database took it');
        failures = 0;
      } catch (error) {
        // A statement that failed for what it is (not the database away, not a lock conflict)
        // would fail again: dropped at once, not waited on by the handler for three leases.
        if (!isTransient(error)) {
          log.warn({ err: error, taskId: task.id }, 'progress update failed');
          continue;
        }
        failures += 1;
        if (failures === 1) {
          deadline = performance.now() + o.retryForMs;
          log.warn({ err: error, taskId: task.id }, 'progress update failed; retrying');
        }
        if (performance.now() > deadline) {
          log.error({ err: error, taskId: task.id }, 'could not store progress; this update is dropped');
          failures = 0;
          continue;
        }
        state.next ??= update;
        await delay(exponentialDelayMs(failures, { baseMs: 50, maxMs: 2000 }));
      }
    }
    state.writing = undefined;
  }

  return { record, handBack, progressReporter };
}

/** The events an outcome's write logs, by kind (recordedBefore); none: not looked for. */
const OUTCOME_EVENTS: Partial<Record<Outcome['kind'], string[]>> = {
  succeeded: ['SUCCEEDED'],
  failed: ['RETRY_SCHEDULED', 'FAILED', 'CANCELLED'],
  snoozed: ['SNOOZED', 'CANCELLED'],
};

/** One attempt's progress writes: one in flight, the latest waiting one next. */
interface ProgressState {
  task: Task;
  writing: Promise<void> | undefined;
  next: ProgressUpdate | undefined;
}

/** The database away or restarting, or a conflict with another transaction (deadlock, serialization): worth trying again. */

function finiteOrNull(value: number | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
