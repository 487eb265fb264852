import type { Executor } from '../../../db/client.js';
import { andTenant } from '../../get.js';
import { isUuid } from '../../uuid.js';
import type { Workflow, WorkflowStatus, WorkflowStep } from '../types.js';

/**
 * A workflow with its steps: the row by primary key, the steps by tasks_workflow_idx
 * (workflow_id, id), in one statement. A parent's id becomes its ref here. Undefined when
 * unknown, not a uuid, or (with `tenant`) another tenant's.
 */
export async function getWorkflow(exec: Executor, id: string, tenant: string | null): Promise<Workflow | undefined> {
  if (!isUuid(id)) return undefined;
  const rows = await exec`
    SELECT w.id, w.tenant, w.name, w.status, w.version, w.created_at, w.finished_at, w.steps_total, w.steps_finished, w.steps_succeeded,
           (SELECT coalesce(json_agg(json_build_object('r', t.step_ref, 'i', t.id, 'd', t.depends_on) ORDER BY t.id), '[]'::json)
            FROM tasks t WHERE t.workflow_id = w.id) AS steps
    FROM workflows w WHERE w.id = ${id} ${andTenant(exec, tenant, 'w.tenant')}`;
  const row = rows[0];
  return row ? toWorkflow(row) : undefined;
}

/** A workflow's status alone (workflows_pkey), without its steps; undefined when it is gone. */
export async function getWorkflowStatus(exec: Executor, id: string): Promise<WorkflowStatus | undefined> {
  const [row] = await exec`SELECT status FROM workflows WHERE id = ${id}`;
  return row ? (row.status as WorkflowStatus) : undefined;
}

/** The workflow stored under an idempotency key of a tenant (workflows_idempotency_key_idx). */
export async function getWorkflowIdByKey(exec: Executor, tenant: string, key: string): Promise<string | undefined> {
  const [row] = await exec`SELECT id FROM workflows WHERE tenant = ${tenant} AND idempotency_key = ${key}`;
  return row ? String(row.id) : undefined;
}

interface StepJson {
  r: string;
  i: string;
  d: string[];
}

function toWorkflow(row: Record<string, unknown>): Workflow {
  const raw = (typeof row.steps === 'string' ? JSON.parse(row.steps) : row.steps) as StepJson[];
  const refById = new Map(raw.map((s) => [s.i, s.r]));
  const steps: WorkflowStep[] = raw.map((s) => ({ ref: s.r, taskId: s.i, dependsOn: s.d.map((p) => refById.get(p) ?? p) }));
  return {
    id: String(row.id),
    tenant: String(row.tenant),
    name: (row.name as string | null) ?? null,
    status: row.status as WorkflowStatus,
    version: Number(row.version),
    steps,
    stepCounts: {
      total: Number(row.stepsTotal ?? row.steps_total),
      finished: Number(row.stepsFinished ?? row.steps_finished),
      succeeded: Number(row.stepsSucceeded ?? row.steps_succeeded),
    },
    createdAt: toDate(row.createdAt ?? row.created_at),
    finishedAt: row.finishedAt ?? row.finished_at ? toDate(row.finishedAt ?? row.finished_at) : null,
  };
}

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}
