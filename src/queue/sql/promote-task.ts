import type { Executor } from '../../db/client.js';
import { changeTailSql, JOBS_CHANNEL, type EventColumns } from '../events.js';
import { andTenant } from '../get.js';
import { toTask, type Task } from '../task.js';

/** The event of runTaskNow: at the runAfter it set, so the event and the task agree to the microsecond. */
export const PROMOTE_EVENT: EventColumns = { type: `'PROMOTED'`, at: 'run_after' };

const TAIL = changeTailSql(PROMOTE_EVENT, ['woken']);

/**
 * Makes a task that waits for its runAfter (enqueued for later, snoozed, backing off after a failed
 * attempt) due now: runAfter becomes the statement's time, its status stays (PENDING or RETRYING,
 * attempts untouched), a PROMOTED event is logged and its queue's workers are woken. What else holds
 * it (a paused queue, limits, a workflow's parents) still does: it is due, not forced.
 * No row: the task is not waiting for a later runAfter (already due, running, finished, BLOCKED), or
 * absent (with `tenant`: or another tenant's). The status is not set, so no workflow trigger fires
 * and no workflow lock is needed. By tasks_pkey.
 */
export async function promoteTask(exec: Executor, p: { id: string; tenant?: string | null }): Promise<Task | undefined> {
  const result = await exec`
    WITH changed AS (
      UPDATE tasks SET run_after = now(), version = version + 1, last_event_tx = greatest(last_event_tx, pg_current_xact_id())
      WHERE id = ${p.id} ${andTenant(exec, p.tenant ?? null)}
        AND status IN ('PENDING', 'RETRYING') AND run_after > now()
      RETURNING tasks.*
    ),
    woken AS (SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM changed),
    ${exec.unsafe(TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
