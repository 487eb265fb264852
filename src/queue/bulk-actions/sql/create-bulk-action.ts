import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../../../db/client.js';
import type { BulkActionKind } from '../../../states.js';
import { BULK_CHANNEL, BULK_NOTICE_SQL } from '../channel.js';
import type { BulkAction } from '../types.js';
import { toBulkAction } from './bulk-action-row.js';

/**
 * Creates a bulk action and fixes its targets in one statement: the INSERT … SELECT copies the
 * id of every task `where` selects into bulk_action_tasks, under the statement's snapshot, so
 * the targets are exactly the tasks matching at that moment (a task enqueued or changed to match
 * later is not one; one that stops matching later still is). `matched` is their count; with none
 * the action is DONE at once. The creation is announced on BULK_CHANNEL (the runners start it).
 * The SELECT walks the index the filter allows (taskFilterSql names them); the
 * primary key of bulk_action_tasks takes 100,000 rows in about a second.
 */
export async function createBulkAction(
  exec: Executor,
  p: { id: string; tenant: string; createdBy: string | null; kind: BulkActionKind; filterJson: Record<string, unknown>; where: PendingQuery<Row[]> },
): Promise<BulkAction> {
  const [row] = await exec`
    WITH targets AS (
      INSERT INTO bulk_action_tasks (action_id, task_id)
      SELECT ${p.id}::uuid, id FROM tasks WHERE ${p.where}
      RETURNING 1
    ),
    counted AS (SELECT count(*)::int AS n FROM targets),
    action AS (
      INSERT INTO bulk_actions (id, tenant, created_by, kind, status, filter, matched, finished_at)
      SELECT ${p.id}, ${p.tenant}, ${p.createdBy}, ${p.kind}::bulk_action_kind,
             (CASE WHEN n = 0 THEN 'DONE' ELSE 'RUNNING' END)::bulk_action_status,
             ${JSON.stringify(p.filterJson)}::jsonb, n, CASE WHEN n = 0 THEN clock_timestamp() END
      FROM counted
      RETURNING *
    ),
    notified AS (SELECT pg_notify(${BULK_CHANNEL}, ${exec.unsafe(BULK_NOTICE_SQL)}) FROM action)
    SELECT action.*, (SELECT count(*) FROM notified) AS notifications FROM action`;
  if (!row) throw new Error('createBulkAction: the INSERT returned no row');
  return toBulkAction(row);
}

/** A bulk action by id (primary key); with `tenant`, another tenant's is absent. */
export async function getBulkAction(exec: Executor, id: string, tenant: string | null): Promise<BulkAction | undefined> {
  const [row] = tenant === null
    ? await exec`SELECT * FROM bulk_actions WHERE id = ${id}`
    : await exec`SELECT * FROM bulk_actions WHERE id = ${id} AND tenant = ${tenant}`;
  return row ? toBulkAction(row) : undefined;
}

/** Ids of RUNNING actions, oldest first (bulk_actions_running_idx), at most `limit`. */
export async function listRunningBulkActions(exec: Executor, limit: number): Promise<{ id: string; kind: BulkActionKind }[]> {
  const rows = await exec`SELECT id, kind FROM bulk_actions WHERE status = 'RUNNING' ORDER BY id LIMIT ${limit}`;
  return rows.map((r) => ({ id: r.id as string, kind: r.kind as BulkActionKind }));
}
