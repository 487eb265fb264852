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
 * The retry change as CTEs ending in `changed` (the changed rows) and `woken` (their queues'
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
 * Workflow steps (docs/workflows.md "Retrying and cancelling"):
 * - a step whose parents have not all ended goes back to BLOCKED, `waiting_parents` counting them
 *   (taskwire_parents_to_wait_for, drizzle/0035: a parent retried by the same statement counts,
 *   one that ended FAILED/CANCELLED and stays so does not), and is released when they end, as the
 *   descendants the retry revives are; before, it ran at once, ahead of its parents, reading null;
 * - a step of a CANCELLED workflow is left alone (retryTask answers CONFLICT, a bulk retry counts it
 *   processed, not changed): the cancel ended the workflow, and a retry would run one step of it
 *   and turn it FAILED. wf_locked holds the workflow's status as it is once locked.
 * A retry of plain tasks (no parents) calls no function and reads no other row.
 * `retriedLater` (a bulk retry: whether the task is still on its list) says which parents a later
 * statement of the same request retries: a FAILED/CANCELLED parent among them is waited for as one
 * retried by this statement is. A bulk retry takes its targets 500 at a time in id order, so a step
 * could be retried a batch before its parent and ran at once with null for it.
 */
export function requeueCtes(
  exec: Executor,
  p: { where: PendingQuery<Row[]>; retriedLater?: (parent: PendingQuery<Row[]>) => PendingQuery<Row[]> },
): PendingQuery<Row[]> {
  // UNION, not ||: the function counts a parent once per time it is named. The LATERAL (OFFSET 0
  // keeps it one) probes per parent, whatever the planner guesses of the unnest.
  const retried = p.retriedLater
    ? exec`ARRAY(SELECT retried_id FROM retrying
                 UNION SELECT parent FROM retrying CROSS JOIN LATERAL unnest(retried_parents) AS parent
                 CROSS JOIN LATERAL (${p.retriedLater(exec`parent`)} OFFSET 0) later)`
    : exec`ARRAY(SELECT retried_id FROM retrying)`;
  return exec`
    retrying AS (
      SELECT id AS retried_id, depends_on AS retried_parents FROM tasks
      WHERE ${p.where} AND status IN ('FAILED', 'CANCELLED') AND ${exec.unsafe(WORKFLOWS_FIRST)}
        AND NOT EXISTS (SELECT 1 FROM wf_locked w WHERE w.id = tasks.workflow_id AND w.status = 'CANCELLED')
    ),
    waits AS (
      -- After wf_locked (retrying waits for it), so the function's own snapshot sees every parent
      -- that ended before the workflow row was ours. Not called when no retried task is a step.
      SELECT * FROM taskwire_parents_to_wait_for(
        ARRAY(SELECT retried_id FROM retrying WHERE cardinality(retried_parents) > 0),
        ${retried})
      WHERE EXISTS (SELECT 1 FROM retrying WHERE cardinality(retried_parents) > 0)
    ),
    changed AS (
      UPDATE tasks SET
        status = (CASE WHEN waits.parents_waited_for > 0 THEN 'BLOCKED' ELSE 'PENDING' END)::task_status,
        waiting_parents = coalesce(waits.parents_waited_for, tasks.waiting_parents),
        attempt_budget = coalesce(attempt_budget, max_attempts),
        max_attempts = attempts + coalesce(attempt_budget, max_attempts),
        cancel_requested = false,
        run_after = now(),
        finished_at = NULL,
        expires_at = NULL,
        return_value = NULL,
        return_value_json = NULL,
        progress = NULL,
        version = version + 1,
        last_event_tx = greatest(last_event_tx, pg_current_xact_id())
      FROM retrying LEFT JOIN waits ON waits.step_id = retrying.retried_id
      -- The ids as an array too: tasks_pkey walks them, whatever the planner estimates of retrying.
      WHERE tasks.id = ANY(ARRAY(SELECT retried_id FROM retrying)) AND tasks.id = retrying.retried_id
        AND tasks.status IN ('FAILED', 'CANCELLED')
      RETURNING tasks.*
    ),
    woken AS (SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM (SELECT DISTINCT queue FROM changed WHERE status = 'PENDING') q)`;
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
