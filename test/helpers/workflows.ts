import { z } from 'zod';
import type { Sql } from '../../src/db/client.js';
import { completeTasks } from '../../src/queue/sql/complete-tasks.js';
import { failTasks } from '../../src/queue/sql/fail-tasks.js';
import { toTask, type Task } from '../../src/queue/task.js';
import { defineTask, type TaskDefinition } from '../../src/worker/define-task.js';

/**
 * Workflow test support: steps driven by hand (claimStep/succeedStep/failStep, the worker's
 * own SQL), and task definitions for runs with real runners.
 */

export const WORKER = 'wf-test-worker';

/** Claims one given step as a worker would (it must be PENDING/RETRYING). */
export async function claimStep(sql: Sql, id: string, workerId = WORKER): Promise<Task> {
  const [row] = await sql`
    UPDATE tasks SET status = 'RUNNING', attempts = attempts + 1, version = version + 1, locked_by = ${workerId},
      worker_ids = array_append(worker_ids, ${workerId}::text), started_at = coalesce(started_at, clock_timestamp()),
      lease_expires_at = now() + interval '1 minute'
    WHERE id = ${id} AND status IN ('PENDING', 'RETRYING') RETURNING *`;
  if (!row) throw new Error(`step ${id} is not claimable`);
  await sql`INSERT INTO task_events (task_id, version, type, status, attempt, worker_id) VALUES (${id}, ${row.version}, 'STARTED', 'RUNNING', ${row.attempts}, ${workerId})`;
  return toTask(row);
}

/** Claims and completes a step with `value` (completeTasks, as a worker records it). */
export async function succeedStep(sql: Sql, id: string, value: unknown = null): Promise<void> {
  const task = await claimStep(sql, id);
  const done = await completeTasks(sql, WORKER, [{ id, attempt: task.attempts, returnValue: JSON.stringify(value) }], 60_000);
  if (done.length !== 1) throw new Error(`step ${id} was not completed`);
}

/** Claims and fails a step for good (failTasks without a retry). */
export async function failStep(sql: Sql, id: string, message = 'boom'): Promise<void> {
  const task = await claimStep(sql, id);
  const error = JSON.stringify({ exceptionType: 'Error', message, traceback: null, attempt: task.attempts, at: new Date().toISOString(), workerId: WORKER });
  const failed = await failTasks(sql, WORKER, [{ id, attempt: task.attempts, error, retryDelayMs: null }], 60_000);
  if (failed.get(id) !== 'FAILED') throw new Error(`step ${id} did not fail`);
}

/** Task ids by step ref. */
export function idsOf(workflow: { steps: { ref: string; taskId: string }[] }): Record<string, string> {
  return Object.fromEntries(workflow.steps.map((s) => [s.ref, s.taskId]));
}

/** Statuses by step ref, read in one query. */
export async function statusesOf(sql: Sql, workflowId: string): Promise<Record<string, string>> {
  const rows = await sql`SELECT step_ref, status FROM tasks WHERE workflow_id = ${workflowId}`;
  return Object.fromEntries(rows.map((r) => [String(r.stepRef), String(r.status)]));
}

/**
 * The invariants a workflow graph must hold once things settle, as one query each:
 * BLOCKED steps whose parents have all ended (a lost release), and RUNNING workflows with no
 * step left to run (a lost status change). Both must be empty.
 */
export async function strandedSteps(sql: Sql): Promise<string[]> {
  const rows = await sql`
    SELECT c.id FROM tasks c
    WHERE c.status = 'BLOCKED'
      AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.id = ANY(c.depends_on) AND p.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED'))`;
  return rows.map((r) => String(r.id));
}

export async function strandedWorkflows(sql: Sql): Promise<string[]> {
  const rows = await sql`
    SELECT w.id FROM workflows w
    WHERE w.status = 'RUNNING'
      AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.workflow_id = w.id AND t.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED'))`;
  return rows.map((r) => String(r.id));
}

/** Counters that disagree with the steps (what the trigger keeps vs a count). */
export async function miscountedWorkflows(sql: Sql): Promise<string[]> {
  const rows = await sql`
    SELECT w.id FROM workflows w
    WHERE w.steps_total <> (SELECT count(*) FROM tasks t WHERE t.workflow_id = w.id)
       OR w.steps_finished <> (SELECT count(*) FROM tasks t WHERE t.workflow_id = w.id AND t.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED'))
       OR w.steps_succeeded <> (SELECT count(*) FROM tasks t WHERE t.workflow_id = w.id AND t.status = 'SUCCEEDED')`;
  return rows.map((r) => String(r.id));
}

/** Handlers for runs with real runners. */
export const workflowTasks: TaskDefinition[] = [
  // Returns its label and what it read from its parents.
  defineTask({
    name: 'wf.step',
    args: z.tuple([z.string()]),
    run: async ([label], ctx) => ({ label, deps: ctx.dependencies }),
  }),
  // Adds one to its single parent's number (or starts from args[0]).
  defineTask({
    name: 'wf.add',
    args: z.tuple([z.number()]),
    run: async ([start], ctx) => {
      const values = Object.values(ctx.dependencies) as number[];
      return values.length === 0 ? start : (values[0] as number) + 1;
    },
  }),
  // Sums its parents' numbers.
  defineTask({
    name: 'wf.sum',
    run: async (_args, ctx) => Object.values(ctx.dependencies).reduce<number>((s, v) => s + (typeof v === 'number' ? v : 0), 0),
  }),
  defineTask({
    name: 'wf.fail',
    run: async () => {
      throw new Error('step failed on purpose');
    },
  }),
  // Waits until its AbortSignal fires.
  defineTask({
    name: 'wf.block',
    run: async (_args, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      }),
  }),
];
