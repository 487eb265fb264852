import type { Executor } from '../../db/client.js';
import { changeTailSql } from '../events.js';
import { wakeQueuesSql } from '../due-notice.js';
import { CLOCK_AT, CLOCK_CTE } from './clock.js';
import { toTask, type Task } from '../task.js';
import type { TaskStatus } from '../../states.js';
import { workflowLockCte, WORKFLOWS_FIRST } from './workflow-locks.js';
import { statusesOf, workflowIdsOf } from './worker-batches.js';

export interface SnoozeParams {
  id: string;
  /** The attempt that asked (the task's `attempts` when claimed). */
  attempt: number;
  workerId: string;
  /** Run again this many ms from now. */
  delayMs: number;
  defaultTtlMs: number;
  /**
   * Wake the task's queue on the jobs channel (its name when due now, else `due:<ms>:<queue>`):
   * for a hand-back meant for another worker (no handler here), which would otherwise learn of the
   * task only at its next poll. Default false: a handler's snooze is claimed when due by its own
   * worker (OutcomeStoreOptions.dueAgainIn) or another's poll.
   */
  wake?: boolean;
}

/**
 * A handler asked to run later (`ctx.retryAfter(ms)` / `ctx.snooze(ms)`, docs/flow-control.md):
 * the task waits again with run_after = now + delayMs and its attempt is not held against it —
 * attempts goes back down and the attempt's worker id is dropped, as releaseTasks does, so
 * max_attempts is untouched however often it snoozes. It waits as PENDING when no attempt is on
 * record, else RETRYING (the state its attempts say). The SNOOZED event names the attempt and its
 * worker. A task whose cancellation was requested ends CANCELLED instead. Guarded by status, lock
 * and attempt like completeTasks.
 */
const EVENT = {
  type: `CASE WHEN status = 'CANCELLED' THEN 'CANCELLED' ELSE 'SNOOZED' END`,
  attempt: `CASE WHEN status = 'CANCELLED' THEN attempts ELSE attempts + 1 END`,
  worker: 'ev_worker',
  at: CLOCK_AT,
};
const TAIL = changeTailSql(EVENT);
// SnoozeParams.wake: the tail, and the queue's wake-up (read by it, so that it runs).
const WAKING_TAIL = `${wakeQueuesSql('changed', CLOCK_AT, `status IN ('PENDING', 'RETRYING')`)},${changeTailSql(EVENT, ['woken'])}`;

/**
 * One snooze, as a statement: what `snoozeTasks` does for a batch, and SnoozeParams.wake. The
 * worker sends its handlers' snoozes to snoozeTasks; this is for hand-backs (wake), which are rare.
 */
export async function snoozeTask(exec: Executor, p: SnoozeParams): Promise<Task | undefined> {
  const result = await exec`
    WITH ${exec.unsafe(CLOCK_CTE)},
    -- Ending a step CANCELLED: its workflow before its row (./workflow-locks.ts); a plain task's NULL locks nothing.
    ${workflowLockCte(exec, exec`SELECT workflow_id FROM tasks WHERE id = ${p.id}`)},
    changed AS (
      UPDATE tasks SET
        status = (CASE WHEN cancel_requested THEN 'CANCELLED'
                       WHEN attempts <= 1 THEN 'PENDING' ELSE 'RETRYING' END)::task_status,
        attempts = CASE WHEN cancel_requested THEN attempts ELSE attempts - 1 END,
        worker_ids = CASE WHEN cancel_requested THEN worker_ids
                          ELSE worker_ids[1:cardinality(worker_ids) - 1] END,
        started_at = CASE WHEN NOT cancel_requested AND attempts <= 1 THEN NULL ELSE started_at END,
        last_attempted_at = CASE WHEN NOT cancel_requested AND attempts <= 1 THEN NULL ELSE last_attempted_at END,
        run_after = CASE WHEN cancel_requested THEN run_after
                         ELSE (SELECT at FROM clock) + ${p.delayMs} * interval '1 millisecond' END,
        finished_at = CASE WHEN cancel_requested THEN (SELECT at FROM clock) END,
        expires_at = CASE WHEN cancel_requested
                     THEN (SELECT at FROM clock) + coalesce(result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond' END,
        version = version + 1,
        last_event_tx = greatest(last_event_tx, pg_current_xact_id()),
        locked_by = NULL,
        lease_expires_at = NULL
      WHERE id = ${p.id} AND status = 'RUNNING' AND locked_by = ${p.workerId} AND attempts = ${p.attempt}
        AND ${exec.unsafe(WORKFLOWS_FIRST)}
      RETURNING *, ${p.workerId}::text AS ev_worker
    ),
    ${exec.unsafe(p.wake ? WAKING_TAIL : TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}

export interface Snooze {
  id: string;
  /** The attempt that asked (the task's `attempts` when claimed). */
  attempt: number;
  /** Run again this many ms from the statement's clock. */
  delayMs: number;
  /** The task's workflow (null: a plain task), as its claim read it; see Completion.workflowId. */
  workflowId?: string | null;
  /**
   * The version the claim gave the task (its STARTED event's): the snooze applies only if no later
   * run started. A snooze gives its attempt number back, so a try that committed unbeknown to the
   * worker (its answer lost), or one given up for its answer that reaches the database late, would
   * otherwise meet a new claim of the task by the same worker through the attempt guard and snooze
   * that run (drizzle/0037). Omitted: the attempt guard alone.
   */
  run?: number;
}

/** What a recorded snooze left the task: waiting again (PENDING or RETRYING), or CANCELLED (its cancellation was asked). */
export type SnoozedStatus = Extract<TaskStatus, 'PENDING' | 'RETRYING' | 'CANCELLED'>;

/**
 * Snoozes of one worker's attempts, a batch in one statement: taskwire_snooze
 * (drizzle/0037_snooze_function.sql) does for each what snoozeTask does without `wake`, with a
 * cached plan, the steps' workflows locked first. Returns the status each recorded task was left
 * in, by id (an attempt the rescuer took back meanwhile is not recorded).
 */
export async function snoozeTasks(exec: Executor, workerId: string, snoozes: readonly Snooze[], defaultTtlMs: number): Promise<Map<string, SnoozedStatus>> {
  if (snoozes.length === 0) return new Map();
  const byAttempt = `{${snoozes.map((s) => `"${s.id}:${s.attempt}":[${Math.max(0, Math.round(s.delayMs))},${s.run ?? null}]`).join(',')}}`;
  const ids = `{${snoozes.map((s) => s.id).join(',')}}`;
  const workflowIds = workflowIdsOf(snoozes);
  const result = await exec`
    SELECT recorded FROM taskwire_snooze(${workerId}::text, ${ids}::uuid[], ${byAttempt}::jsonb, ${defaultTtlMs}::bigint, ${workflowIds}::uuid[])`;
  return statusesOf<SnoozedStatus>(result[0]?.recorded as string | null | undefined);
}
