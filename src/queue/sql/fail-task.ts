import type { Executor } from '../../db/client.js';
import { changeTailSql, WORKER_OF_ATTEMPT } from '../events.js';
import { CLOCK_AT, CLOCK_CTE } from './clock.js';
import { toTask, type Task } from '../task.js';
import { workflowLockCte, WORKFLOWS_FIRST } from './workflow-locks.js';

export interface FailParams {
  id: string;
  /** The attempt that failed (the task's `attempts` when claimed). */
  attempt: number;
  workerId: string;
  /** The attempt's error, encoded: {exceptionType, message, traceback, attempt, at, workerId}. */
  error: string;
  /** Retry after this many ms if attempts are left; null: do not retry whatever is left. */
  retryDelayMs: number | null;
  defaultTtlMs: number;
}

/**
 * Records a failed attempt: RETRYING (run again after the delay) while attempts are left,
 * else FAILED. Guarded by status, lock and attempt like completeTasks. A task whose
 * cancellation was requested ends CANCELLED instead (the error kept), whatever attempts are
 * left: the attempt may have failed (or timed out) before the worker heard of the
 * cancellation, and retrying it would run a task its owner cancelled. The rescuer does the same.
 */
// The attempt's error was just appended: it is the last of `errors`.
const TAIL = changeTailSql({
  type: `CASE status WHEN 'RETRYING' THEN 'RETRY_SCHEDULED' WHEN 'FAILED' THEN 'FAILED' ELSE 'CANCELLED' END`,
  worker: WORKER_OF_ATTEMPT,
  error: 'errors -> -1',
  at: CLOCK_AT,
});

export async function failTask(exec: Executor, p: FailParams): Promise<Task | undefined> {
  const retry = p.retryDelayMs !== null;
  const delay = p.retryDelayMs ?? 0;
  // Reads the row being updated (re-read under the row lock if it changed meanwhile).
  const retrying = exec`(NOT cancel_requested AND ${retry} AND attempts < max_attempts)`;
  const result = await exec`
    WITH ${exec.unsafe(CLOCK_CTE)},
    -- A step's end: its workflow before its row (./workflow-locks.ts); a plain task's NULL locks nothing.
    ${workflowLockCte(exec, exec`SELECT workflow_id FROM tasks WHERE id = ${p.id}`)},
    changed AS (
      UPDATE tasks SET
        status = (CASE WHEN cancel_requested THEN 'CANCELLED' WHEN ${retrying} THEN 'RETRYING' ELSE 'FAILED' END)::task_status,
        errors = errors || jsonb_build_array(${p.error}::jsonb),
        version = version + 1,
        run_after = CASE WHEN ${retrying} THEN (SELECT at FROM clock) + ${delay} * interval '1 millisecond' ELSE run_after END,
        finished_at = CASE WHEN ${retrying} THEN NULL ELSE (SELECT at FROM clock) END,
        expires_at = CASE WHEN ${retrying} THEN NULL
                     ELSE (SELECT at FROM clock) + coalesce(result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond' END,
        locked_by = NULL,
        lease_expires_at = NULL
      WHERE id = ${p.id} AND status = 'RUNNING' AND locked_by = ${p.workerId} AND attempts = ${p.attempt}
        AND ${exec.unsafe(WORKFLOWS_FIRST)}
      RETURNING *
    ),
    ${exec.unsafe(TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
