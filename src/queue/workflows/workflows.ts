import type { Sql } from '../../db/client.js';
import { NotFoundError } from '../../errors.js';
import type { TaskCatalog } from '../catalog.js';
import type { QueueScope } from '../enqueue.js';
import { toExecutor } from '../executor.js';
import { cancelWorkflowSteps } from './sql/cancel-workflow.js';
import { getWorkflow, getWorkflowIdByKey } from './sql/get-workflows.js';
import { insertWorkflow } from './sql/insert-workflow.js';
import type { Workflow, Workflows } from './types.js';
import { prepareWorkflow } from './validate.js';

export interface WorkflowsOptions {
  sql: Sql;
  catalog: TaskCatalog;
  /** Largest args + kwargs of a task, in bytes of JSON. */
  maxArgsBytes: number;
  /** Retention of finished tasks without their own TTL, in ms (a workflow's steps: from the workflow's end). */
  resultTtlMs: number;
}

/**
 * The workflows of one scope (Queue.workflows): enqueues carry the scope's tenant and
 * creator; reads and cancels see only its tenant (another tenant's workflow reads as none).
 * What a step's end does (release, failure policies, retention, status) happens in the
 * database, in the statement that records the end (drizzle/0012_workflow_release_per_statement.sql,
 * its functions replaced by 0015_workflow_revival_one_statement.sql).
 */
export function createWorkflows(options: WorkflowsOptions, scope: QueueScope): Workflows {
  const { sql, catalog } = options;
  const tenant = scope.readTenant;

  async function mustGet(id: string): Promise<Workflow> {
    const workflow = await getWorkflow(sql, id, tenant);
    if (!workflow) throw new NotFoundError('Workflow', id);
    return workflow;
  }

  return {
    async enqueue(input, enqueueOptions) {
      const wf = prepareWorkflow(catalog, input, { maxArgsBytes: options.maxArgsBytes }, scope);
      // In the caller's transaction, every statement: the replay's reads too, which see what it wrote.
      const exec = enqueueOptions?.tx ? toExecutor(enqueueOptions.tx) : sql;
      const { created, createdAt } = await insertWorkflow(exec, wf);
      if (!created) {
        // The key is taken: that workflow is the answer (as for a task's idempotency key).
        const id = await getWorkflowIdByKey(exec, wf.tenant, wf.idempotencyKey as string);
        const stored = id ? await getWorkflow(exec, id, tenant) : undefined;
        if (stored) return stored;
        // Deleted between the two statements: store this one after all.
        return this.enqueue(input, enqueueOptions);
      }
      const refById = new Map(wf.steps.map((s) => [s.row.id, s.ref]));
      return {
        id: wf.id,
        tenant: wf.tenant,
        name: wf.name,
        status: 'RUNNING',
        version: 1,
        steps: wf.steps.map((s) => ({ ref: s.ref, taskId: s.row.id, dependsOn: s.dependsOn.map((p) => refById.get(p) as string) })),
        stepCounts: { total: wf.steps.length, finished: 0, succeeded: 0 },
        createdAt,
        finishedAt: null,
      };
    },
    get: (id) => getWorkflow(sql, id, tenant),
    async cancel(id) {
      await mustGet(id);
      await cancelWorkflowSteps(sql, { id, tenant, defaultTtlMs: options.resultTtlMs });
      return mustGet(id);
    },
  };
}
