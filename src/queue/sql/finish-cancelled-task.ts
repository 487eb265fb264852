import type { Executor } from '../../db/client.js';
import { changeTailSql, WORKER_OF_ATTEMPT } from '../events.js';
import { CLOCK_CTE } from './clock.js';
import { toTask, type Task } from '../task.js';
import { workflowLockCte, WORKFLOWS_FIRST } from './workflow-locks.js';

/**
 * A running task whose cancellation was requested has stopped: record CANCELLED.
 * `error` (encoded) is kept in `errors` when the handler threw while stopping. Guarded by
 * status, lock and attempt like completeTasks.
 */
const TAIL = changeTailSql({ type: `'CANCELLED'`, worker: WORKER_OF_ATTEMPT, error: 'CASE WHEN ev_has_error THEN errors -> -1 END', at: 'finished_at' });

export async function finishCancelledTask(
  exec: Executor,
  p: { id: string; attempt: number; workerId: string; error: string | null; defaultTtlMs: number },
): Promise<Task | undefined> {
  const errors = p.error === null ? '[]' : `[${p.error}]`;
  const result = await exec`
    WITH ${exec.unsafe(CLOCK_CTE)},
    -- A step's end: its workflow before its row (./workflow-locks.ts); a plain task's NULL locks nothing.
    ${workflowLockCte(exec, exec`SELECT workflow_id FROM tasks WHERE id = ${p.id}`)},
    changed AS (
      UPDATE tasks SET
        status = 'CANCELLED',
        errors = errors || ${errors}::jsonb,
        version = version + 1,
        last_event_tx = greatest(last_event_tx, pg_current_xact_id()),
        finished_at = (SELECT at FROM clock),
        expires_at = (SELECT at FROM clock) + coalesce(result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond',
        locked_by = NULL,
        lease_expires_at = NULL
      WHERE id = ${p.id} AND status = 'RUNNING' AND locked_by = ${p.workerId} AND attempts = ${p.attempt}
        AND ${exec.unsafe(WORKFLOWS_FIRST)}
      RETURNING *, ${p.error !== null}::boolean AS ev_has_error
    ),
    ${exec.unsafe(TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
