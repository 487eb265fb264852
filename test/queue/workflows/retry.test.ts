import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { createBulkActionRunner } from '../../../src/queue/bulk-actions/index.js';
import { completeTasks } from '../../../src/queue/sql/complete-tasks.js';
import { requeueTask } from '../../../src/queue/sql/requeue-task.js';
import type { WorkflowStatus } from '../../../src/queue/workflows/types.js';
import { createQueueTestApp, type QueueTestApp } from '../../helpers/factories.js';
import { createGates } from '../../helpers/gates.js';
import { waitFor } from '../../helpers/wait.js';
import { claimStep, failStep, idsOf, miscountedWorkflows, statusesOf, strandedSteps, strandedWorkflows, succeedStep, WORKER, workflowTasks } from '../../helpers/workflows.js';

// Retrying a workflow step (docs/workflows.md "Retrying and cancelling"): a retried step whose
// parents have not all ended waits for them (BLOCKED), as the descendants its retry revives do;
// a step of a cancelled workflow is not retried. Steps are driven by hand (claimStep/succeedStep)
// except in the last case, which runs them with a real runner to see what the handlers read.
const gates = createGates();
let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp({}, [...workflowTasks, ...gates.tasks]);
});
afterAll(async () => {
  await app.close();
});
afterEach(async () => {
  await app.stopRunners();
  await app.sql`DELETE FROM tasks`;
  await app.sql`DELETE FROM workflows`;
});

const step = (ref: string, dependsOn: string[] = [], extra: object = {}) => ({ ref, task: { name: 'demo.echo', args: [ref] }, dependsOn, ...extra });

/** a → b → {c RUN_ANYWAY, d}, a claimed (RUNNING), then b cancelled while it waits for a. */
async function cancelledWhileBlocked(): Promise<{ workflowId: string; id: Record<string, string> }> {
  const q = app.deps.queue;
  const wf = await q.workflows.enqueue({ steps: [step('a'), step('b', ['a']), step('c', ['b'], { onDependencyFailure: 'RUN_ANYWAY' }), step('d', ['b'])] });
  const id = idsOf(wf);
  await claimStep(app.sql, id.a as string);
  expect((await q.cancelTask(id.b as string)).status).toBe('CANCELLED');
  expect(await statusesOf(app.sql, wf.id)).toEqual({ a: 'RUNNING', b: 'CANCELLED', c: 'PENDING', d: 'CANCELLED' });
  return { workflowId: wf.id, id };
}

/** Completes a step claimed by claimStep (as its worker records it). */
async function complete(id: string, value: unknown): Promise<void> {
  const task = await app.deps.queue.getTask(id);
  const done = await completeTasks(app.sql, WORKER, [{ id, attempt: task?.attempts as number, returnValue: JSON.stringify(value) }], 60_000);
  expect(done).toHaveLength(1);
}

async function consistent(): Promise<void> {
  expect(await strandedSteps(app.sql)).toEqual([]);
  expect(await strandedWorkflows(app.sql)).toEqual([]);
  expect(await miscountedWorkflows(app.sql)).toEqual([]);
}

async function workflowStatus(id: string): Promise<WorkflowStatus | undefined> {
  return (await app.deps.queue.workflows.get(id))?.status;
}

function bulkRunner() {
  return createBulkActionRunner({ sql: app.sql, log: silentLogger, resultTtlMs: 60_000, pollIntervalMs: 60_000 });
}

describe('a retried step whose parents have not all ended', () => {
  it('retryTask of a step cancelled while BLOCKED: BLOCKED again until its parent ends, its revived child after it', async () => {
    const q = app.deps.queue;
    const { workflowId, id } = await cancelledWhileBlocked();
    const retried = await q.retryTask(id.b as string);
    expect(retried).toMatchObject({ status: 'BLOCKED', waitingParents: 1 });
    // c ran on b's cancel (RUN_ANYWAY) and is not run again; d comes back behind b.
    expect(await statusesOf(app.sql, workflowId)).toEqual({ a: 'RUNNING', b: 'BLOCKED', c: 'PENDING', d: 'BLOCKED' });
    expect((await q.getTask(id.d as string))?.waitingParents).toBe(1);
    await succeedStep(app.sql, id.c as string);
    expect(await statusesOf(app.sql, workflowId)).toEqual({ a: 'RUNNING', b: 'BLOCKED', c: 'SUCCEEDED', d: 'BLOCKED' });
    await complete(id.a as string, 'a');
    expect(await statusesOf(app.sql, workflowId)).toEqual({ a: 'SUCCEEDED', b: 'PENDING', c: 'SUCCEEDED', d: 'BLOCKED' });
    await succeedStep(app.sql, id.b as string);
    expect((await q.getTask(id.d as string))?.status).toBe('PENDING');
    await succeedStep(app.sql, id.d as string);
    expect(await workflowStatus(workflowId)).toBe('SUCCEEDED');
    const events = await app.sql`SELECT type, status FROM task_events WHERE task_id = ${id.b as string} ORDER BY version`;
    expect(events.map((e) => `${e.type}:${e.status}`)).toEqual([
      'ENQUEUED:BLOCKED', 'CANCELLED:CANCELLED', 'RETRIED:BLOCKED', 'RELEASED:PENDING', 'STARTED:RUNNING', 'SUCCEEDED:SUCCEEDED',
    ]);
    await consistent();
  });

  it('a bulk retry of the cancelled steps: each waits for its parents, d for b retried in the same batch', async () => {
    const q = app.deps.queue;
    const { workflowId, id } = await cancelledWhileBlocked();
    const action = await q.bulkActions.create('RETRY', { status: ['CANCELLED'], workflowId });
    expect(action.matched).toBe(2);
    expect(await bulkRunner().runOnce()).toBe(2);
    expect(await q.bulkActions.get(action.id)).toMatchObject({ status: 'DONE', processed: 2, changed: 2 });
    expect(await statusesOf(app.sql, workflowId)).toEqual({ a: 'RUNNING', b: 'BLOCKED', c: 'PENDING', d: 'BLOCKED' });
    expect((await q.getTask(id.b as string))?.waitingParents).toBe(1);
    expect((await q.getTask(id.d as string))?.waitingParents).toBe(1);
    await complete(id.a as string, 'a');
    expect(await statusesOf(app.sql, workflowId)).toEqual({ a: 'SUCCEEDED', b: 'PENDING', c: 'PENDING', d: 'BLOCKED' });
    await succeedStep(app.sql, id.b as string);
    expect((await q.getTask(id.d as string))?.status).toBe('PENDING');
    await consistent();
  });

  it('a bulk retry that reaches a step a batch before its failed parent: the step waits for the parent the action retries later', async () => {
    const q = app.deps.queue;
    // b declared first, so its id comes first: batches take the targets in id order.
    const wf = await q.workflows.enqueue({ steps: [step('b', ['a']), step('a')] });
    const id = idsOf(wf);
    expect((id.b as string) < (id.a as string)).toBe(true);
    await failStep(app.sql, id.a as string);
    expect(await statusesOf(app.sql, wf.id)).toEqual({ a: 'FAILED', b: 'CANCELLED' });
    const action = await q.bulkActions.create('RETRY', { status: ['FAILED', 'CANCELLED'], workflowId: wf.id });
    expect(action.matched).toBe(2);
    const runner = createBulkActionRunner({ sql: app.sql, log: silentLogger, resultTtlMs: 60_000, pollIntervalMs: 60_000, batchSize: 1 });
    expect(await runner.runOnce()).toBe(2);
    expect(await q.bulkActions.get(action.id)).toMatchObject({ status: 'DONE', processed: 2, changed: 2 });
    // Before: b went PENDING in the first batch, to run with null for a.
    expect(await statusesOf(app.sql, wf.id)).toEqual({ a: 'PENDING', b: 'BLOCKED' });
    expect((await q.getTask(id.b as string))?.waitingParents).toBe(1);
    await succeedStep(app.sql, id.a as string, 'a');
    expect(await statusesOf(app.sql, wf.id)).toEqual({ a: 'SUCCEEDED', b: 'PENDING' });
    await succeedStep(app.sql, id.b as string);
    expect(await workflowStatus(wf.id)).toBe('SUCCEEDED');
    await consistent();
  });

  it('retryTask of a step DependencyFailed cancelled, another parent still running: waits for that one, not the failed one', async () => {
    const q = app.deps.queue;
    const wf = await q.workflows.enqueue({ steps: [step('x'), step('y'), step('z', ['x', 'y'])] });
    const id = idsOf(wf);
    await claimStep(app.sql, id.y as string);
    await failStep(app.sql, id.x as string);
    expect(await statusesOf(app.sql, wf.id)).toEqual({ x: 'FAILED', y: 'RUNNING', z: 'CANCELLED' });
    expect(await q.retryTask(id.z as string)).toMatchObject({ status: 'BLOCKED', waitingParents: 1 });
    await complete(id.y as string, 'y');
    // x stays FAILED: z runs without its result (null), as documented.
    expect(await statusesOf(app.sql, wf.id)).toEqual({ x: 'FAILED', y: 'SUCCEEDED', z: 'PENDING' });
    await succeedStep(app.sql, id.z as string);
    expect(await workflowStatus(wf.id)).toBe('FAILED');
    await consistent();
  });

  it.each(['retryTask', 'a bulk retry'])('%s of a failed parent whose RUN_ANYWAY child still waits for another: the child waits for both again', async (how) => {
    // A tester's find (session 49): the child had counted the parent's end, the retry did not count it
    // back, and the parent's second end counted it again: released while its other parent still ran.
    const q = app.deps.queue;
    const wf = await q.workflows.enqueue({ steps: [step('a'), step('x'), step('r', ['a', 'x'], { onDependencyFailure: 'RUN_ANYWAY' })] });
    const id = idsOf(wf);
    await claimStep(app.sql, id.x as string);
    await failStep(app.sql, id.a as string);
    expect(await statusesOf(app.sql, wf.id)).toEqual({ a: 'FAILED', x: 'RUNNING', r: 'BLOCKED' });
    expect((await q.getTask(id.r as string))?.waitingParents).toBe(1);
    if (how === 'retryTask') expect(await q.retryTask(id.a as string)).toMatchObject({ status: 'PENDING' });
    else {
      await q.bulkActions.create('RETRY', { status: ['FAILED'], workflowId: wf.id });
      expect(await bulkRunner().runOnce()).toBe(1);
    }
    expect((await q.getTask(id.r as string))?.waitingParents).toBe(2);
    await succeedStep(app.sql, id.a as string, 'a');
    // Before: r PENDING here, to run with null for x.
    expect(await statusesOf(app.sql, wf.id)).toEqual({ a: 'SUCCEEDED', x: 'RUNNING', r: 'BLOCKED' });
    await complete(id.x as string, 'x');
    expect(await statusesOf(app.sql, wf.id)).toEqual({ a: 'SUCCEEDED', x: 'SUCCEEDED', r: 'PENDING' });
    await succeedStep(app.sql, id.r as string);
    expect(await workflowStatus(wf.id)).toBe('SUCCEEDED');
    await consistent();
  });

  it('a bulk retry of a step and, a batch later, its failed parent while another parent runs: the step waits for both, once each', async () => {
    const q = app.deps.queue;
    // r declared first, so its id comes first: batches take the targets in id order.
    const wf = await q.workflows.enqueue({ steps: [step('r', ['a', 'x']), step('a'), step('x')] });
    const id = idsOf(wf);
    await claimStep(app.sql, id.x as string);
    await failStep(app.sql, id.a as string);
    expect(await statusesOf(app.sql, wf.id)).toEqual({ r: 'CANCELLED', a: 'FAILED', x: 'RUNNING' });
    await q.bulkActions.create('RETRY', { status: ['FAILED', 'CANCELLED'], workflowId: wf.id });
    const runner = createBulkActionRunner({ sql: app.sql, log: silentLogger, resultTtlMs: 60_000, pollIntervalMs: 60_000, batchSize: 1 });
    expect(await runner.runOnce()).toBe(2);
    // r counted a, which the action retried a batch later, in advance: not twice.
    expect(await statusesOf(app.sql, wf.id)).toEqual({ r: 'BLOCKED', a: 'PENDING', x: 'RUNNING' });
    expect((await q.getTask(id.r as string))?.waitingParents).toBe(2);
    await succeedStep(app.sql, id.a as string, 'a');
    await complete(id.x as string, 'x');
    expect(await statusesOf(app.sql, wf.id)).toEqual({ r: 'PENDING', a: 'SUCCEEDED', x: 'SUCCEEDED' });
    await consistent();
  });

  it('a parent that ends while the retry waits for the workflow row counts as ended (not BLOCKED for ever)', async () => {
    const q = app.deps.queue;
    const { workflowId, id } = await cancelledWhileBlocked();
    const a = await q.getTask(id.a as string);
    // The completion of a holds the workflow row (workflow rows first) and commits only once the
    // retry, whose statement started while a was RUNNING, is seen waiting for that row.
    let commit!: () => void;
    const mayCommit = new Promise<void>((resolve) => (commit = resolve));
    let locked!: () => void;
    const hasLocked = new Promise<void>((resolve) => (locked = resolve));
    const completion = app.sql.begin(async (tx) => {
      await completeTasks(tx, WORKER, [{ id: id.a as string, attempt: a?.attempts as number, returnValue: '"a"', workflowId }], 60_000);
      locked();
      await mayCommit;
    });
    await hasLocked;
    const retry = requeueTask(app.sql, { id: id.b as string });
    await waitFor(
      async () => Number((await app.sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)[0]?.n) > 0,
      { message: 'the retry to wait for the workflow row' },
    );
    commit();
    await completion;
    expect(await retry).toMatchObject({ status: 'PENDING', waitingParents: 0 });
    expect(await statusesOf(app.sql, workflowId)).toEqual({ a: 'SUCCEEDED', b: 'PENDING', c: 'PENDING', d: 'BLOCKED' });
    await consistent();
  });

  it('run by a worker: the retried step runs after its parent, with its result, and so does its revived child', async () => {
    const q = app.deps.queue;
    const s = (ref: string, dependsOn: string[], extra: object = {}) => ({ ref, task: { name: 'wf.step', args: [ref] }, dependsOn, ...extra });
    const wf = await q.workflows.enqueue({
      steps: [
        { ref: 'a', task: { name: 'test.gate', args: ['retry-a'] } },
        s('b', ['a']),
        s('c', ['b'], { onDependencyFailure: 'RUN_ANYWAY' }),
        s('d', ['b']),
      ],
    });
    const id = idsOf(wf);
    await app.startRunner();
    try {
      await waitFor(async () => (await q.getTask(id.a as string))?.status === 'RUNNING' || undefined, { message: 'a to run' });
      await q.cancelTask(id.b as string);
      expect((await q.retryTask(id.b as string)).status).toBe('BLOCKED');
      expect((await q.getTask(id.a as string))?.status).toBe('RUNNING');
    } finally {
      gates.open('retry-a');
    }
    await waitFor(async () => (await workflowStatus(wf.id)) === 'SUCCEEDED' || undefined, { timeoutMs: 20_000, message: 'the workflow to succeed' });
    const b = { label: 'b', deps: { a: 'retry-a' } };
    expect((await q.getTask(id.b as string))?.returnValue).toEqual(b);
    expect((await q.getTask(id.d as string))?.returnValue).toEqual({ label: 'd', deps: { b } });
    // c ran when b was cancelled, with null, and was not run again (docs/workflows.md).
    expect((await q.getTask(id.c as string))?.returnValue).toEqual({ label: 'c', deps: { b: null } });
  });
});

describe('a step of a cancelled workflow', () => {
  it('retryTask refuses it (CONFLICT naming the workflow), and nothing changes', async () => {
    const q = app.deps.queue;
    const wf = await q.workflows.enqueue({ steps: [step('p'), step('ch', ['p']), step('other')] });
    const id = idsOf(wf);
    await failStep(app.sql, id.p as string);
    await q.workflows.cancel(wf.id);
    expect(await statusesOf(app.sql, wf.id)).toEqual({ p: 'FAILED', ch: 'CANCELLED', other: 'CANCELLED' });
    const before = await q.workflows.get(wf.id);
    expect(before?.status).toBe('CANCELLED');
    for (const ref of ['p', 'ch', 'other']) {
      const refused = q.retryTask(id[ref] as string);
      await expect(refused).rejects.toMatchObject({ code: 'CONFLICT', details: { workflowId: wf.id } });
      await expect(refused).rejects.toThrow(`workflow ${wf.id}`);
      await expect(refused).rejects.toThrow('was cancelled');
    }
    expect(await statusesOf(app.sql, wf.id)).toEqual({ p: 'FAILED', ch: 'CANCELLED', other: 'CANCELLED' });
    expect(await q.workflows.get(wf.id)).toMatchObject({ status: 'CANCELLED', version: before?.version });
    await consistent();
  });

  it('a bulk retry skips it (processed, not changed) and retries the other tasks', async () => {
    const q = app.deps.queue;
    const wf = await q.workflows.enqueue({ steps: [step('p'), step('ch', ['p'])] });
    await q.workflows.cancel(wf.id);
    const plain = await q.enqueue({ name: 'demo.echo', args: ['plain'] });
    await q.cancelTask(plain.id);
    const action = await q.bulkActions.create('RETRY', { status: ['CANCELLED'] });
    expect(action.matched).toBe(3);
    expect(await bulkRunner().runOnce()).toBe(3);
    expect(await q.bulkActions.get(action.id)).toMatchObject({ status: 'DONE', processed: 3, changed: 1 });
    expect(await statusesOf(app.sql, wf.id)).toEqual({ p: 'CANCELLED', ch: 'CANCELLED' });
    expect(await workflowStatus(wf.id)).toBe('CANCELLED');
    expect((await q.getTask(plain.id))?.status).toBe('PENDING');
    await consistent();
  });
});
