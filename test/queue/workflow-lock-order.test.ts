import { afterEach, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/db/client.js';
import { processBulkBatch } from '../../src/queue/bulk-actions/sql/process-bulk-batch.js';
import { completeTasks } from '../../src/queue/sql/complete-tasks.js';
import { deleteExpiredTasks } from '../../src/queue/sql/delete-expired-tasks.js';
import { failTasks } from '../../src/queue/sql/fail-tasks.js';
import { finishCancelledTask } from '../../src/queue/sql/finish-cancelled-task.js';
import { requestCancel } from '../../src/queue/sql/request-cancel.js';
import { requeueTask } from '../../src/queue/sql/requeue-task.js';
import { rescueTasks } from '../../src/queue/sql/rescue-tasks.js';
import { snoozeTasks } from '../../src/queue/sql/snooze-task.js';
import { sweepWorkflowSteps } from '../../src/queue/workflows/sql/cancel-workflow.js';
import { useQueueTestApp } from '../helpers/factories.js';
import { useLockContention } from '../helpers/lock-contention.js';
import { claimStep, failStep, idsOf, miscountedWorkflows, statusesOf, strandedSteps, strandedWorkflows, WORKER } from '../helpers/workflows.js';

// Workflow rows before step rows (docs/decisions.md "One lock order for task rows",
// src/queue/sql/workflow-locks.ts). Each case replays an interleaving that deadlocked when a
// statement locked its step rows and then, in the steps trigger, their workflow and its children:
// a third transaction holds the workflow row, the first statement starts and queues, the second
// starts and queues, the holder commits. Taking step rows first, the first (holding its step,
// then the workflow) waits for the second's step and the second (holding that step) waits for the
// workflow: 40P01. Taking the workflow first, both queue on it holding nothing and run one after
// the other. A statement that takes step rows SKIP LOCKED (the rescuer, the cleaner) takes the
// workflow without waiting, or leaves the step for its next round: it may not queue at all.
const env = useQueueTestApp();
const TTL = 60_000;

const { contend: contendFor } = useLockContention(() => env.app.sql);

afterEach(async () => {
  await env.app.sql`DELETE FROM tasks`;
  await env.app.sql`DELETE FROM workflows`;
});

const step = (ref: string, dependsOn: string[] = []) => ({ ref, task: { name: 'demo.echo', args: [ref] }, dependsOn });

/** A workflow a → b (b CANCEL-policy, BLOCKED), a claimed by WORKER. */
async function parentRunning(): Promise<{ workflowId: string; a: string; b: string; attempt: number }> {
  const wf = await env.app.deps.queue.workflows.enqueue({ steps: [step('a'), step('b', ['a'])] });
  const id = idsOf(wf);
  const a = await claimStep(env.app.sql, id.a as string);
  return { workflowId: wf.id, a: a.id, b: id.b as string, attempt: a.attempts };
}

/** Holds workflow `workflowId`'s row while `first` and then `second` queue (or end) (test/helpers/lock-contention.ts). */
const contend = (workflowId: string, first: (c: Executor) => Promise<unknown>, second: (c: Executor) => Promise<unknown>): Promise<void> =>
  contendFor((holder) => holder`SELECT 1 FROM workflows WHERE id = ${workflowId} FOR UPDATE`, first, second);

/** Nothing stranded or miscounted (test/helpers/workflows.ts). */
async function consistent(): Promise<void> {
  expect(await strandedSteps(env.app.sql)).toEqual([]);
  expect(await strandedWorkflows(env.app.sql)).toEqual([]);
  expect(await miscountedWorkflows(env.app.sql)).toEqual([]);
}

describe('statements changing workflow steps lock the workflow first', () => {
  it("a worker completing a parent step and a cancel of its blocked child", async () => {
    const s = await parentRunning();
    await contend(
      s.workflowId,
      (c) => completeTasks(c, WORKER, [{ id: s.a, attempt: s.attempt, returnValue: '1', workflowId: s.workflowId }], TTL),
      (c) => requestCancel(c, { id: s.b, defaultTtlMs: TTL }),
    );
    // The completion went first: b was released, then cancelled.
    expect(await statusesOf(env.app.sql, s.workflowId)).toEqual({ a: 'SUCCEEDED', b: 'CANCELLED' });
    await consistent();
  });

  it('a completion that does not name its workflows (a worker of an older taskwire) and a cancel of the child', async () => {
    const s = await parentRunning();
    const byAttempt = JSON.stringify({ [`${s.a}:${s.attempt}`]: 1 });
    await contend(
      s.workflowId,
      (c) => c`SELECT recorded FROM taskwire_complete(${WORKER}::text, ${`{${s.a}}`}::uuid[], ${byAttempt}::jsonb, ${TTL}::bigint)`,
      (c) => requestCancel(c, { id: s.b, defaultTtlMs: TTL }),
    );
    expect(await statusesOf(env.app.sql, s.workflowId)).toEqual({ a: 'SUCCEEDED', b: 'CANCELLED' });
    await consistent();
  });

  it('a completion of a parent step and a bulk cancel of its blocked child', async () => {
    const s = await parentRunning();
    const action = await env.app.deps.queue.bulkActions.create('CANCEL', { status: ['BLOCKED'] });
    await contend(
      s.workflowId,
      (c) => completeTasks(c, WORKER, [{ id: s.a, attempt: s.attempt, returnValue: '1' }], TTL),
      (c) => processBulkBatch(c, { actionId: action.id, kind: 'CANCEL', limit: 100, defaultTtlMs: TTL }),
    );
    expect(await statusesOf(env.app.sql, s.workflowId)).toEqual({ a: 'SUCCEEDED', b: 'CANCELLED' });
    await consistent();
  });

  it('a worker failing a parent step (its CANCEL-policy child doomed) and a cancel of that child', async () => {
    const s = await parentRunning();
    const error = JSON.stringify({ exceptionType: 'Error', message: 'boom', traceback: null, attempt: s.attempt, at: new Date().toISOString(), workerId: WORKER });
    await contend(
      s.workflowId,
      (c) => failTasks(c, WORKER, [{ id: s.a, attempt: s.attempt, error, retryDelayMs: null }], TTL),
      (c) => requestCancel(c, { id: s.b, defaultTtlMs: TTL }),
    );
    expect(await statusesOf(env.app.sql, s.workflowId)).toEqual({ a: 'FAILED', b: 'CANCELLED' });
    await consistent();
  });

  it('a worker recording its cancelled parent step (the child doomed) and a cancel of that child', async () => {
    const s = await parentRunning();
    await env.app.sql`UPDATE tasks SET cancel_requested = true WHERE id = ${s.a}`;
    await contend(
      s.workflowId,
      (c) => finishCancelledTask(c, { id: s.a, attempt: s.attempt, workerId: WORKER, error: null, defaultTtlMs: TTL }),
      (c) => requestCancel(c, { id: s.b, defaultTtlMs: TTL }),
    );
    expect(await statusesOf(env.app.sql, s.workflowId)).toEqual({ a: 'CANCELLED', b: 'CANCELLED' });
    await consistent();
  });

  // Not a deadlock of its own (a cancel of the child takes no step row before the workflow): the
  // snooze's CANCELLED under contention dooms the child and leaves the workflow consistent.
  it('a worker recording a snooze of its parent step whose cancellation was asked, and a cancel of that child', async () => {
    const s = await parentRunning();
    await env.app.sql`UPDATE tasks SET cancel_requested = true WHERE id = ${s.a}`;
    await contend(
      s.workflowId,
      (c) => snoozeTasks(c, WORKER, [{ id: s.a, attempt: s.attempt, delayMs: 10, workflowId: s.workflowId }], TTL),
      (c) => requestCancel(c, { id: s.b, defaultTtlMs: TTL }),
    );
    expect(await statusesOf(env.app.sql, s.workflowId)).toEqual({ a: 'CANCELLED', b: 'CANCELLED' });
    await consistent();
  });

  it('a retry of a failed parent step (reviving its cancelled child) and a retry of that child', async () => {
    const wf = await env.app.deps.queue.workflows.enqueue({ steps: [step('a'), step('b', ['a'])] });
    const id = idsOf(wf);
    await failStep(env.app.sql, id.a as string);
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'FAILED', b: 'CANCELLED' });
    await contend(
      wf.id,
      (c) => requeueTask(c, { id: id.a as string }),
      (c) => requeueTask(c, { id: id.b as string }),
    );
    // a's retry revived b (→ BLOCKED); b's own retry then found it not FAILED/CANCELLED.
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'PENDING', b: 'BLOCKED' });
    await consistent();
  });

  it('the rescuer failing a lost parent step and a cancel of its blocked child', async () => {
    const s = await parentRunning();
    await env.app.sql`UPDATE tasks SET lease_expires_at = now() - interval '1 minute', max_attempts = 1 WHERE id = ${s.a}`;
    await contend(
      s.workflowId,
      () => rescueTasks(env.app.sql, { now: null, limit: 10, defaultTtlMs: TTL }),
      (c) => requestCancel(c, { id: s.b, defaultTtlMs: TTL }),
    );
    // Whether this round rescued a or left it for the next (its workflow held), the next one does.
    await rescueTasks(env.app.sql, { now: null, limit: 10, defaultTtlMs: TTL });
    expect(await statusesOf(env.app.sql, s.workflowId)).toEqual({ a: 'FAILED', b: 'CANCELLED' });
    await consistent();
  });

  it("a workflow cancel's later sweep and a completion of a parent step", async () => {
    const s = await parentRunning();
    // The workflow already CANCELLED (as cancelWorkflow's first transaction leaves it), b still BLOCKED.
    await env.app.sql`UPDATE workflows SET status = 'CANCELLED', version = version + 1, finished_at = clock_timestamp() WHERE id = ${s.workflowId}`;
    await contend(
      s.workflowId,
      (c) => completeTasks(c, WORKER, [{ id: s.a, attempt: s.attempt, returnValue: '1', workflowId: s.workflowId }], TTL),
      (c) => sweepWorkflowSteps(c, s.workflowId, TTL),
    );
    expect(await statusesOf(env.app.sql, s.workflowId)).toEqual({ a: 'SUCCEEDED', b: 'CANCELLED' });
    await consistent();
  });

  it('the cleaner deleting the last step of an ended workflow and a retry of that step', async () => {
    const wf = await env.app.deps.queue.workflows.enqueue({ steps: [step('a')] });
    const id = idsOf(wf);
    await failStep(env.app.sql, id.a as string);
    await env.app.sql`UPDATE tasks SET expires_at = now() - interval '1 second' WHERE id = ${id.a as string}`;
    await contend(
      wf.id,
      (c) => requeueTask(c, { id: id.a as string }),
      (c) => deleteExpiredTasks(c, { now: null, limit: 100 }),
    );
    // The retry went first (it queued first): the workflow runs again and keeps its step.
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'PENDING' });
    const [row] = await env.app.sql`SELECT status FROM workflows WHERE id = ${wf.id}`;
    expect(row?.status).toBe('RUNNING');
    await consistent();
  });
});
