import type { Executor } from '../../db/client.js';
import { changeTailSql, JOBS_CHANNEL } from '../events.js';
import { andTenant } from '../get.js';
import { toTask, type Task } from '../task.js';

/**
 * Cancels a task: a waiting one (PENDING/RETRYING) becomes CANCELLED at once; a RUNNING
 * one gets `cancel_requested` and its worker is told on the jobs channel, so the handler's
 * AbortSignal fires (the worker then records CANCELLED). No row: the task is finished,
 * already being cancelled, or absent (with `tenant`: or another tenant's).
 */
const TAIL = changeTailSql({ type: `CASE WHEN status = 'RUNNING' THEN 'CANCEL_REQUESTED' ELSE 'CANCELLED' END` }, ['told']);

export async function requestCancel(exec: Executor, p: { id: string; defaultTtlMs: number; tenant?: string | null }): Promise<Task | undefined> {
  const result = await exec`
    WITH changed AS (
      UPDATE tasks SET
        status = (CASE WHEN status = 'RUNNING' THEN 'RUNNING' ELSE 'CANCELLED' END)::task_status,
        cancel_requested = true,
        version = version + 1,
        finished_at = CASE WHEN status = 'RUNNING' THEN NULL ELSE clock_timestamp() END,
        expires_at = CASE WHEN status = 'RUNNING' THEN NULL
                     ELSE clock_timestamp() + coalesce(result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond' END
      WHERE id = ${p.id} ${andTenant(exec, p.tenant ?? null)}
        AND (status IN ('PENDING', 'RETRYING') OR (status = 'RUNNING' AND NOT cancel_requested))
      RETURNING *
    ),
    told AS (
      SELECT pg_notify(${JOBS_CHANNEL}, 'cancel:' || id::text) FROM changed WHERE status = 'RUNNING'
    ),
    ${exec.unsafe(TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
