import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../../db/client.js';
import { changeTailSql, JOBS_CHANNEL, type EventColumns } from '../events.js';
import { CLOCK_AT, CLOCK_CTE } from './clock.js';
import { andTenant } from '../get.js';
import { toTask, type Task } from '../task.js';
import { workflowLockCte, WORKFLOWS_FIRST } from './workflow-locks.js';

/** The event of a cancel change: the request for a running task, the end for a waiting one. */
export const CANCEL_EVENT: EventColumns = {
  type: `CASE WHEN status = 'RUNNING' THEN 'CANCEL_REQUESTED' ELSE 'CANCELLED' END`,
  at: CLOCK_AT,
};

const TAIL = changeTailSql(CANCEL_EVENT, ['told']);

/**
 * The cancel change as three CTEs, `clock` (its one clock reading, ./clock.ts), `changed` (the
 * changed rows) and `told` (the running ones' workers told), over the tasks `where` selects: cancelTask uses it for one id, a bulk cancel
 * (src/queue/bulk-actions) for a batch, so both change a task the same way. A waiting task
 * (BLOCKED/PENDING/RETRYING) becomes CANCELLED at once; a RUNNING one gets `cancel_requested` and its
 * worker is told on the jobs channel, so the handler's AbortSignal fires (the worker then
 * records CANCELLED). Finished tasks and tasks already being cancelled are left alone.
 * `told` must be read (notificationCountSql) or it does not run. The caller's WITH declares
 * `wf_locked` (./workflow-locks.ts) before these, over the workflows of the tasks `where` selects:
 * cancelling a BLOCKED step ends it, and its workflow must be locked before its row.
 */
export function cancelCtes(exec: Executor, p: { where: PendingQuery<Row[]>; defaultTtlMs: number }): PendingQuery<Row[]> {
  return exec`
    ${exec.unsafe(CLOCK_CTE)},
    changed AS (
      UPDATE tasks SET
        status = (CASE WHEN status = 'RUNNING' THEN 'RUNNING' ELSE 'CANCELLED' END)::task_status,
        cancel_requested = true,
        version = version + 1,
        last_event_tx = greatest(last_event_tx, pg_current_xact_id()),
        finished_at = CASE WHEN status = 'RUNNING' THEN NULL ELSE (SELECT at FROM clock) END,
        expires_at = CASE WHEN status = 'RUNNING' THEN NULL
                     ELSE (SELECT at FROM clock) + coalesce(result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond' END
      WHERE ${p.where}
        AND (status IN ('BLOCKED', 'PENDING', 'RETRYING') OR (status = 'RUNNING' AND NOT cancel_requested))
        AND ${exec.unsafe(WORKFLOWS_FIRST)}
      RETURNING *
    ),
    told AS (
      SELECT pg_notify(${JOBS_CHANNEL}, 'cancel:' || id::text) FROM changed WHERE status = 'RUNNING'
    )`;
}

/**
 * Cancels a task (see cancelCtes). No row: the task is finished, already being cancelled, or
 * absent (with `tenant`: or another tenant's).
 */
export async function requestCancel(exec: Executor, p: { id: string; defaultTtlMs: number; tenant?: string | null }): Promise<Task | undefined> {
  const result = await exec`
    WITH ${workflowLockCte(exec, exec`SELECT workflow_id FROM tasks WHERE id = ${p.id}`)},
    ${cancelCtes(exec, { where: exec`id = ${p.id} ${andTenant(exec, p.tenant ?? null)}`, defaultTtlMs: p.defaultTtlMs })},
    ${exec.unsafe(TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
