import type { Executor, Sql } from '../../../db/client.js';
import { transaction } from '../../../db/transaction.js';
import { changeTailSql } from '../../events.js';
import { andTenant } from '../../get.js';
import { CANCEL_EVENT, cancelCtes } from '../../sql/request-cancel.js';
import { workflowLockCte } from '../../sql/workflow-locks.js';
import { WORKFLOWS_CHANNEL } from '../channel.js';

/**
 * RUNNING → CANCELLED (version + 1, finished_at, NOTIFY in the same statement). False when the
 * workflow is unknown (or another tenant's) or already ended.
 */
export async function markWorkflowCancelled(exec: Executor, id: string, tenant: string | null): Promise<boolean> {
  const [row] = await exec`
    WITH changed AS (
      UPDATE workflows SET status = 'CANCELLED', version = version + 1, finished_at = clock_timestamp()
      WHERE id = ${id} ${andTenant(exec, tenant)} AND status = 'RUNNING'
      RETURNING id, version, status
    ),
    announced AS (SELECT pg_notify(${WORKFLOWS_CHANNEL}, id::text || ':' || version || ':' || status) FROM changed)
    SELECT (SELECT count(*) FROM changed)::int AS changed, (SELECT count(*) FROM announced)::int AS notifications`;
  return Number(row?.changed ?? 0) === 1;
}

const TAIL = changeTailSql(CANCEL_EVENT, ['told']);

/**
 * Cancels a workflow's unfinished steps with cancelTask's change (cancelCtes): waiting and
 * BLOCKED ones at once, running ones through their worker (AbortSignal). The workflow row is
 * locked first, as every statement changing steps does (../../sql/workflow-locks.ts); the first
 * sweep holds it already. Steps another transaction holds (a claim taking them, a heartbeat) are
 * waited for, in id order, not skipped: skipped, a step a claim was taking started after the
 * cancel had committed, and one that ran quickly ended SUCCEEDED without ever being asked to stop
 * (a tester's order pipeline: "order cancelled", then its charge step ran). Waited for, the claim
 * commits first and its step is RUNNING when the cancel re-reads it, so it is asked to stop (a
 * worker holding it unstarted never starts it). No holder of a step row waits for the workflow row
 * (claims, heartbeats and output take none; ends take it first), so the wait cannot close a cycle.
 * Returns how many steps it changed.
 */
export async function sweepWorkflowSteps(exec: Executor, id: string, defaultTtlMs: number): Promise<number> {
  // By tasks_workflow_idx (workflow_id, id): in id order, as every statement locking several task rows.
  const where = exec`id IN (
    SELECT id FROM tasks WHERE workflow_id = ${id}
      AND (status IN ('BLOCKED', 'PENDING', 'RETRYING') OR (status = 'RUNNING' AND NOT cancel_requested))
    ORDER BY id FOR NO KEY UPDATE)`;
  const rows = await exec`
    WITH ${workflowLockCte(exec, exec`SELECT ${id}::uuid`)}, ${cancelCtes(exec, { where, defaultTtlMs })}, ${exec.unsafe(TAIL)}`;
  return rows.length;
}

async function unfinishedSteps(exec: Executor, id: string): Promise<number> {
  const [row] = await exec`
    SELECT count(*)::int AS n FROM tasks WHERE workflow_id = ${id}
      AND (status IN ('BLOCKED', 'PENDING', 'RETRYING') OR (status = 'RUNNING' AND NOT cancel_requested))`;
  return Number(row?.n ?? 0);
}

/**
 * Marks the workflow CANCELLED and cancels its steps in one transaction: once it commits, every
 * step either ended, was cancelled, or runs with its cancellation asked for; none can start. The
 * workflow row is taken first: a step ending meanwhile then sees the workflow CANCELLED, and the
 * children it would release become CANCELLED instead. Then sweeps again, up to `sweepForMs`, while
 * a step still looks unfinished (a safety net: none is expected).
 */
export async function cancelWorkflowSteps(
  sql: Sql,
  p: { id: string; tenant: string | null; defaultTtlMs: number; sweepForMs?: number },
): Promise<void> {
  const cancelled = await transaction(sql, async (tx) => {
    if (!(await markWorkflowCancelled(tx, p.id, p.tenant))) return false;
    await sweepWorkflowSteps(tx, p.id, p.defaultTtlMs);
    return true;
  });
  if (!cancelled) return;
  const deadline = performance.now() + (p.sweepForMs ?? 5000);
  for (let round = 1; (await unfinishedSteps(sql, p.id)) > 0 && performance.now() < deadline; round++) {
    if ((await sweepWorkflowSteps(sql, p.id, p.defaultTtlMs)) === 0) await new Promise((r) => setTimeout(r, Math.min(5 * round, 50)));
  }
}
