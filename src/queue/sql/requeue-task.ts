import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../../db/client.js';
import { changeTailSql, JOBS_CHANNEL, type EventColumns } from '../events.js';
import { andTenant } from '../get.js';
import { toTask, type Task } from '../task.js';
import { workflowLockCte, WORKFLOWS_FIRST } from './workflow-locks.js';

/** The event of a retry. */
export const RETRY_EVENT: EventColumns = { type: `'RETRIED'` };

const TAIL = changeTailSql(RETRY_EVENT, ['woken']);

/**
 * The retry change as two CTEs, `changed` (the changed rows) and `woken` (their queues'
 * workers woken), over the tasks `where` selects: retryTask uses it for one id, a bulk retry
 * (src/queue/bulk-actions) for a batch, so both change a task the same way. FAILED or
 * CANCELLED → PENDING, keeping its history (errors, worker ids, attempts) and granting the
 * attempts it was enqueued with again (`attempt_budget`, kept by its first retry: before that,
 * max_attempts is still the enqueued figure), whichever process runs the retry and whatever its
 * definition now says. It is due now, whatever its runAfter was (a retry is asked for to run it).
 * Tasks in other states are left alone. `woken` wakes each queue once (a batch's 500 tasks of one queue: one
 * NOTIFY, not 500). `woken` must be read (notificationCountSql) or it does not run. The caller's
 * WITH declares `wf_locked` (./workflow-locks.ts) before these, over the workflows of the tasks
 * `where` selects: a retried step leaves its end, and the trigger revives its cancelled
 * descendants, under its workflow's lock taken before any of their rows.
 */
export function requeueCtes(exec: Executor, p: { where: PendingQuery<Row[]> }): PendingQuery<Row[]> {
  return exec`
    changed AS (
      UPDATE tasks SET
        status = 'PENDING',
        attempt_budget = coalesce(attempt_budget, max_attempts),
        max_attempts = attempts + coalesce(attempt_budget, max_attempts),
        cancel_requested = false,
        run_after = now(),
        finished_at = NULL,
        expires_at = NULL,
        return_value = NULL,
        progress = NULL,
        version = version + 1
      WHERE ${p.where} AND status IN ('FAILED', 'CANCELLED') AND ${exec.unsafe(WORKFLOWS_FIRST)}
      RETURNING *
    ),
    woken AS (SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM (SELECT DISTINCT queue FROM changed) q)`;
}

/**
 * Retries a task (see requeueCtes). No row: the task is not FAILED/CANCELLED, or absent (with
 * `tenant`: or another tenant's).
 */
export async function requeueTask(exec: Executor, p: { id: string; tenant?: string | null }): Promise<Task | undefined> {
  const result = await exec`
    WITH ${workflowLockCte(exec, exec`SELECT workflow_id FROM tasks WHERE id = ${p.id}`)},
    ${requeueCtes(exec, { where: exec`id = ${p.id} ${andTenant(exec, p.tenant ?? null)}` })},
    ${exec.unsafe(TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
