import type { Executor } from '../../db/client.js';
import { NOTIFY_EVENTS } from '../events.js';
import { toTask, type Task } from '../task.js';

export interface FailParams {
  id: string;
  workerId: string;
  /** The attempt's error, encoded: {exceptionType, message, traceback, attempt, at, workerId}. */
  error: string;
  /** Retry after this many ms if attempts are left; null: do not retry whatever is left. */
  retryDelayMs: number | null;
  defaultTtlMs: number;
}

/**
 * Records a failed attempt: RETRYING (run again after the delay) while attempts are left,
 * else FAILED. Guarded by status and lock like completeTasks.
 */
export async function failTask(exec: Executor, p: FailParams): Promise<Task | undefined> {
  const retry = p.retryDelayMs !== null;
  const delay = p.retryDelayMs ?? 0;
  const result = await exec`
    WITH changed AS (
      UPDATE tasks SET
        status = (CASE WHEN ${retry} AND attempts < max_attempts THEN 'RETRYING' ELSE 'FAILED' END)::task_status,
        errors = errors || jsonb_build_array(${p.error}::jsonb),
        version = version + 1,
        run_after = CASE WHEN ${retry} AND attempts < max_attempts
                    THEN clock_timestamp() + ${delay} * interval '1 millisecond' ELSE run_after END,
        finished_at = CASE WHEN ${retry} AND attempts < max_attempts THEN NULL ELSE clock_timestamp() END,
        expires_at = CASE WHEN ${retry} AND attempts < max_attempts THEN NULL
                     ELSE clock_timestamp() + coalesce(result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond' END,
        locked_by = NULL,
        lease_expires_at = NULL
      WHERE id = ${p.id} AND status = 'RUNNING' AND locked_by = ${p.workerId}
      RETURNING *
    ),
    ${exec.unsafe(NOTIFY_EVENTS)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
