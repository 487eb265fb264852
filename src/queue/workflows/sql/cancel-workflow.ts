import type { Executor, Sql } from '../../../db/client.js';
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
 * BLOCKED ones at once, running ones through their worker (AbortSignal). Steps another
 * transaction holds at this moment (a worker recording an end, a claim) are skipped rather
 * than waited for (a worker heart-beating, a claim: their statements are short) and the caller
 * sweeps again (see cancelWorkflowSteps). The workflow row is locked first, as every statement
 * changing steps does (../../sql/workflow-locks.ts); the first sweep holds it already.
 * Returns how many steps it changed.
 */
export async function sweepWorkflowSteps(exec: Executor, id: string, defaultTtlMs: number): Promise<number> {
  const where = exec`id IN (
    SELECT id FROM tasks WHERE workflow_id = ${id}
      AND (status IN ('BLOCKED', 'PENDING', 'RETRYING') OR (status = 'RUNNING' AND NOT cancel_requested))
    FOR UPDATE SKIP LOCKED)`;
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
 * Marks the workflow CANCELLED and cancels its steps in one transaction, then sweeps again
 * until no step is left that could still start (those skipped while locked), for up to
 * `sweepForMs`. The workflow row is taken first: a step ending meanwhile then sees the
 * workflow CANCELLED, and the children it would release become CANCELLED instead.
 */
export async function cancelWorkflowSteps(
  sql: Sql,
  p: { id: string; tenant: string | null; defaultTtlMs: number; sweepForMs?: number },
): Promise<void> {
  const cancelled = await sql.begin(async (tx) => {
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
