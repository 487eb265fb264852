import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../../../db/client.js';
import type { BulkActionKind } from '../../../states.js';
import { eventCtesSql, notificationCountSql } from '../../events.js';
import { CANCEL_EVENT, cancelCtes } from '../../sql/request-cancel.js';
import { RETRY_EVENT, requeueCtes } from '../../sql/requeue-task.js';
import { workflowLockCte, WORKFLOWS_FIRST } from '../../sql/workflow-locks.js';
import { BULK_CHANNEL, BULK_NOTICE_SQL } from '../channel.js';

export interface BatchOutcome {
  /** Targets taken off the action's list (0: none left that another runner is not holding). */
  processed: number;
  /** Of those, tasks changed. */
  changed: number;
  /** The highest task id taken (null with none): where this runner's next batch may start looking. */
  lastTaskId: string | null;
}

export interface ProcessBatchParams {
  actionId: string;
  kind: BulkActionKind;
  /** Most targets per statement. */
  limit: number;
  /**
   * Look only at targets after this task id (a hint: the runner's previous batch's last id). The
   * list is emptied in task order, so the index entries before it are mostly those of deleted rows,
   * which a scan from the start walks again until vacuum removes them. (Measured on 100,000
   * targets under load: no clear difference either way; kept as it costs nothing.) Null: from the
   * start (the runner does so before it ends an action).
   */
  after?: string | null;
  /** Default retention of tasks a cancel finishes, in ms. */
  defaultTtlMs: number;
}

/**
 * One batch of a RUNNING action, in one statement, so that everything of it commits together or
 * not at all (a crash mid-batch leaves the batch to be done again, never half-done):
 * 1. takes up to `limit` of its remaining targets in task order, `FOR UPDATE SKIP LOCKED`, so
 *    runners of other processes take other targets at the same time (primary key of bulk_action_tasks);
 * 2. deletes them from the list: a task leaves the list only with its change, so no task is
 *    changed twice by one action, even across a crash;
 * 3. locks the workflows of those that are workflow steps (`wf_locked`, in id order), then their
 *    task rows in id order (`locked`), the order every statement changing tasks keeps
 *    (docs/decisions.md "One lock order for task rows"): the UPDATE alone locks them in the
 *    order its join meets them, the table's order for a hash join over a scan of tasks, and a worker
 *    completing some of them (taskwire_complete, by tasks_pkey) deadlocked with it; and a step
 *    locked before its workflow deadlocked with its parent completing (../../sql/workflow-locks.ts);
 * 4. changes them with cancelTask's or retryTask's own CTEs (one event each, NOTIFY, workers told),
 *    which leave tasks in other states alone (processed, not changed);
 * 5. adds to `processed`/`changed`, bumps `version` and announces it on BULK_CHANNEL.
 * Every batch updates the action's row, so batches of one action from several runners commit one
 * after the other there; their task rows are disjoint, so they do not deadlock each other.
 */
export async function processBulkBatch(exec: Executor, p: ProcessBatchParams): Promise<BatchOutcome> {
  const where = exec`id IN (SELECT id FROM locked)`;
  // The parents still on the list are retried by a later batch: a step waits for them (primary key
  // of bulk_action_tasks, one probe per parent of a retried step).
  const retriedLater = (parent: PendingQuery<Row[]>) => exec`SELECT 1 FROM bulk_action_tasks WHERE action_id = ${p.actionId} AND task_id = ${parent}`;
  const change = p.kind === 'CANCEL' ? cancelCtes(exec, { where, defaultTtlMs: p.defaultTtlMs }) : requeueCtes(exec, { where, retriedLater });
  const event = p.kind === 'CANCEL' ? CANCEL_EVENT : RETRY_EVENT;
  const wake = p.kind === 'CANCEL' ? 'told' : 'woken';
  const [row] = await exec`
    WITH batch AS (
      SELECT t.task_id, t.ctid FROM bulk_action_tasks t
      WHERE t.action_id = ${p.actionId} ${p.after ? exec`AND t.task_id > ${p.after}` : exec``}
        AND EXISTS (SELECT 1 FROM bulk_actions a WHERE a.id = ${p.actionId} AND a.status = 'RUNNING')
      ORDER BY t.task_id
      LIMIT ${p.limit}
      FOR UPDATE OF t SKIP LOCKED
    ),
    -- The rows taken, by their tuple ids (a TID scan: locked above, they cannot have moved). The list
    -- is empty between actions, and statistics read then (autovacuum) make the planner expect no rows:
    -- \`task_id IN (batch)\` was planned as a join that compared each taken target with every remaining
    -- one (40,000 targets: 5 s a batch until autoanalyze came round), and \`task_id = ANY (…)\` as a
    -- scan of the whole list per batch.
    marked AS (
      DELETE FROM bulk_action_tasks WHERE ctid = ANY (ARRAY(SELECT ctid FROM batch))
      RETURNING task_id
    ),
    ${workflowLockCte(exec, exec`SELECT workflow_id FROM tasks WHERE id IN (SELECT task_id FROM batch)`)},
    locked AS (
      SELECT id FROM tasks WHERE id IN (SELECT task_id FROM batch) AND ${exec.unsafe(WORKFLOWS_FIRST)} ORDER BY id FOR NO KEY UPDATE
    ),
    ${change},
    ${exec.unsafe(eventCtesSql(event))},
    progress AS (
      UPDATE bulk_actions SET
        processed = processed + (SELECT count(*) FROM marked),
        changed = changed + (SELECT count(*) FROM changed),
        version = version + 1
      WHERE id = ${p.actionId} AND EXISTS (SELECT 1 FROM marked)
      RETURNING id, version, status
    ),
    announced AS (SELECT pg_notify(${BULK_CHANNEL}, ${exec.unsafe(BULK_NOTICE_SQL)}) FROM progress)
    SELECT (SELECT count(*) FROM marked)::int AS processed, (SELECT max(task_id::text) FROM marked)::uuid AS last_task_id,
           (SELECT count(*) FROM changed)::int AS changed,
           ${exec.unsafe(notificationCountSql([wake, 'announced']))} AS notifications`;
  return { processed: Number(row?.processed ?? 0), changed: Number(row?.changed ?? 0), lastTaskId: (row?.lastTaskId as string | null | undefined) ?? null };
}

/**
 * Ends a RUNNING action whose list is empty: DONE, announced. Nothing when targets remain,
 * including ones another runner holds in a batch not yet committed (it sees the list empty after
 * it commits and ends the action then). Returns whether it ended it.
 */
export async function finishBulkAction(exec: Executor, actionId: string): Promise<boolean> {
  const rows = await exec`
    WITH done AS (
      UPDATE bulk_actions SET status = 'DONE', finished_at = clock_timestamp(), version = version + 1
      WHERE id = ${actionId} AND status = 'RUNNING'
        AND NOT EXISTS (SELECT 1 FROM bulk_action_tasks WHERE action_id = ${actionId})
      RETURNING id, version, status
    )
    SELECT pg_notify(${BULK_CHANNEL}, ${exec.unsafe(BULK_NOTICE_SQL)}) FROM done`;
  return rows.length > 0;
}

/**
 * Ends a RUNNING action as FAILED with `error` (its remaining targets are dropped), announced.
 * Targets another runner's batch holds are left to it (SKIP LOCKED): that batch locked them before
 * it came to the action's row, which this statement holds first, so waiting for them deadlocked.
 * The batch then commits its changes, counted, and deletes its targets itself.
 */
export async function failBulkAction(exec: Executor, actionId: string, error: string): Promise<boolean> {
  const rows = await exec`
    WITH failed AS (
      UPDATE bulk_actions SET status = 'FAILED', error = ${error}, finished_at = clock_timestamp(), version = version + 1
      WHERE id = ${actionId} AND status = 'RUNNING'
      RETURNING id, version, status
    ),
    -- Primary key of bulk_action_tasks (action_id, task_id).
    dropped AS (
      DELETE FROM bulk_action_tasks WHERE action_id = ${actionId} AND task_id IN (
        SELECT task_id FROM bulk_action_tasks WHERE action_id IN (SELECT id FROM failed) FOR UPDATE SKIP LOCKED)
    )
    SELECT pg_notify(${BULK_CHANNEL}, ${exec.unsafe(BULK_NOTICE_SQL)}) FROM failed`;
  return rows.length > 0;
}
