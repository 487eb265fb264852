import { describe, expect, it } from 'vitest';
import { listen } from '../../../src/queue/events.js';
import { completeTasks } from '../../../src/queue/sql/complete-tasks.js';
import { decodeWorkflowChanges, WORKFLOWS_CHANNEL, type WorkflowChange } from '../../../src/queue/workflows/channel.js';
import { useQueueTestApp } from '../../helpers/factories.js';
import { waitFor } from '../../helpers/wait.js';
import { claimStep, failStep, idsOf, miscountedWorkflows, statusesOf, strandedSteps, strandedWorkflows, succeedStep, WORKER } from '../../helpers/workflows.js';

const env = useQueueTestApp();

const step = (ref: string, dependsOn: string[] = [], extra: object = {}) => ({ ref, task: { name: 'demo.echo', args: [ref] }, dependsOn, ...extra });

describe('workflow release', () => {
  it('runs a diamond: the join is released only when both branches succeeded', async () => {
    const q = env.app.deps.queue;
    const wf = await q.workflows.enqueue({ name: 'diamond', steps: [step('a'), step('b', ['a']), step('c', ['a']), step('d', ['b', 'c'])] });
    const id = idsOf(wf);
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'PENDING', b: 'BLOCKED', c: 'BLOCKED', d: 'BLOCKED' });
    await succeedStep(env.app.sql, id.a as string, 1);
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'SUCCEEDED', b: 'PENDING', c: 'PENDING', d: 'BLOCKED' });
    await succeedStep(env.app.sql, id.b as string, 2);
    expect((await q.getTask(id.d as string))?.status).toBe('BLOCKED');
    await succeedStep(env.app.sql, id.c as string, 3);
    expect((await q.getTask(id.d as string))?.status).toBe('PENDING');
    await succeedStep(env.app.sql, id.d as string, 4);
    const done = await q.workflows.get(wf.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', finishedAt: expect.any(Date) });
    expect(await strandedSteps(env.app.sql)).toEqual([]);
    expect(await strandedWorkflows(env.app.sql)).toEqual([]);
    expect(await miscountedWorkflows(env.app.sql)).toEqual([]);
  });

  it('cancels the dependents of a failed step, recursively, with DependencyFailed naming the parent', async () => {
    const q = env.app.deps.queue;
    const wf = await q.workflows.enqueue({ steps: [step('a'), step('b', ['a']), step('c', ['b']), step('r', ['b'], { onDependencyFailure: 'RUN_ANYWAY' })] });
    const id = idsOf(wf);
    await failStep(env.app.sql, id.a as string);
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'FAILED', b: 'CANCELLED', c: 'CANCELLED', r: 'PENDING' });
    const b = await q.getTask(id.b as string);
    expect(b?.errors.at(-1)).toMatchObject({ exceptionType: 'DependencyFailed' });
    expect(b?.errors.at(-1)?.message).toContain('"a"');
    expect((await q.workflows.get(wf.id))?.status).toBe('RUNNING');
    await succeedStep(env.app.sql, id.r as string);
    expect((await q.workflows.get(wf.id))?.status).toBe('FAILED');

    // Retrying the failed parent brings back what it cancelled.
    await q.retryTask(id.a as string);
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'PENDING', b: 'BLOCKED', c: 'BLOCKED', r: 'SUCCEEDED' });
    expect((await q.workflows.get(wf.id))?.status).toBe('RUNNING');
    await succeedStep(env.app.sql, id.a as string);
    await succeedStep(env.app.sql, id.b as string);
    await succeedStep(env.app.sql, id.c as string);
    expect((await q.workflows.get(wf.id))?.status).toBe('SUCCEEDED');
    expect(await miscountedWorkflows(env.app.sql)).toEqual([]);
  });
});

describe('workflow release under concurrency', () => {
  it('releases a child exactly once when its two parents end in two transactions at the same moment', async () => {
    const { sql, deps } = env.app;
    const wf = await deps.queue.workflows.enqueue({ steps: [step('a'), step('b'), step('join', ['a', 'b'])] });
    const id = idsOf(wf);
    const a = await claimStep(sql, id.a as string);
    const b = await claimStep(sql, id.b as string);
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((resolve) => (releaseFirst = resolve));
    let firstRecorded!: () => void;
    const firstHasRecorded = new Promise<void>((resolve) => (firstRecorded = resolve));
    // The first transaction records a's end (its trigger holds the workflow row and the join's
    // row) and stays open until the second is seen waiting for a lock.
    const first = sql.begin(async (tx) => {
      await completeTasks(tx, WORKER, [{ id: a.id, attempt: a.attempts, returnValue: '1' }], 60_000);
      firstRecorded();
      await firstMayCommit;
    });
    await firstHasRecorded;
    const second = sql.begin(async (tx) => {
      await completeTasks(tx, WORKER, [{ id: b.id, attempt: b.attempts, returnValue: '2' }], 60_000);
    });
    await waitFor(
      async () => Number((await sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)[0]?.n) > 0,
      { message: 'the second transaction to wait for the first' },
    );
    releaseFirst();
    await Promise.all([first, second]);
    const join = await deps.queue.getTask(id.join as string);
    expect(join).toMatchObject({ status: 'PENDING', waitingParents: 0, version: 2 });
    const released = await sql`SELECT type, status FROM task_events WHERE task_id = ${id.join as string} ORDER BY version`;
    expect(released.map((e) => `${e.type}:${e.status}`)).toEqual(['ENQUEUED:BLOCKED', 'RELEASED:PENDING']);
  });
});

describe('workflow changes and single-step paths', () => {
  it('announces every change of the workflow row on taskwire_workflows with its new version, in order', async () => {
    const { sql, deps } = env.app;
    const seen: WorkflowChange[] = [];
    const listener = await listen(sql, WORKFLOWS_CHANNEL, { onNotify: (payload) => seen.push(...decodeWorkflowChanges(payload)) });
    try {
      const wf = await deps.queue.workflows.enqueue({ steps: [step('a'), step('b', ['a'])] });
      const id = idsOf(wf);
      await succeedStep(sql, id.a as string);
      await succeedStep(sql, id.b as string);
      const final = await deps.queue.workflows.get(wf.id);
      await waitFor(() => seen.filter((c) => c.id === wf.id).length === 3 || undefined, { message: 'three workflow notifications' });
      expect(seen.filter((c) => c.id === wf.id)).toEqual([
        { id: wf.id, version: 1, status: 'RUNNING' },
        { id: wf.id, version: 2, status: 'RUNNING' },
        { id: wf.id, version: 3, status: 'SUCCEEDED' },
      ]);
      expect(final?.version).toBe(3);
    } finally {
      await listener.close();
    }
  });

  it('cancelTask on a BLOCKED step cancels it and, by policy, what depends on it', async () => {
    const { sql, deps } = env.app;
    const wf = await deps.queue.workflows.enqueue({ steps: [step('a'), step('b', ['a']), step('c', ['b']), step('d', ['a', 'b'], { onDependencyFailure: 'RUN_ANYWAY' })] });
    const id = idsOf(wf);
    expect((await deps.queue.cancelTask(id.b as string)).status).toBe('CANCELLED');
    expect(await statusesOf(sql, wf.id)).toEqual({ a: 'PENDING', b: 'CANCELLED', c: 'CANCELLED', d: 'BLOCKED' });
    await succeedStep(sql, id.a as string);
    expect(await statusesOf(sql, wf.id)).toEqual({ a: 'SUCCEEDED', b: 'CANCELLED', c: 'CANCELLED', d: 'PENDING' });
  });

  it('a retry revives a dependent only when none of its other parents failed', async () => {
    const { sql, deps } = env.app;
    const wf = await deps.queue.workflows.enqueue({ steps: [step('a'), step('b'), step('join', ['a', 'b'])] });
    const id = idsOf(wf);
    await failStep(sql, id.a as string);
    await failStep(sql, id.b as string);
    expect((await deps.queue.workflows.get(wf.id))?.status).toBe('FAILED');
    await deps.queue.retryTask(id.a as string);
    expect(await statusesOf(sql, wf.id)).toEqual({ a: 'PENDING', b: 'FAILED', join: 'CANCELLED' });
    await deps.queue.retryTask(id.b as string);
    expect(await statusesOf(sql, wf.id)).toEqual({ a: 'PENDING', b: 'PENDING', join: 'BLOCKED' });
    expect((await deps.queue.getTask(id.join as string))?.waitingParents).toBe(2);
    await succeedStep(sql, id.a as string);
    await succeedStep(sql, id.b as string);
    expect((await deps.queue.getTask(id.join as string))?.status).toBe('PENDING');
    expect(await miscountedWorkflows(sql)).toEqual([]);
  });
});

describe('deep graphs', () => {
  it('cancels a chain of 1,000 below a failed first step in one statement, and revives it on retry', async () => {
    const { sql, deps } = env.app;
    const wf = await deps.queue.workflows.enqueue({ steps: Array.from({ length: 1000 }, (_, i) => step(`s${i}`, i === 0 ? [] : [`s${i - 1}`])) });
    const id = idsOf(wf);
    await failStep(sql, id.s0 as string);
    const count = async (status: string): Promise<number> =>
      Number((await sql`SELECT count(*)::int AS n FROM tasks WHERE workflow_id = ${wf.id} AND status = ${status}`)[0]?.n);
    expect(await count('CANCELLED')).toBe(999);
    expect((await deps.queue.workflows.get(wf.id))?.status).toBe('FAILED');
    const last = await deps.queue.getTask(id.s999 as string);
    expect(last?.errors.at(-1)?.message).toContain('"s998"');
    expect(last?.errors.at(-1)?.message).toContain('"s0"');
    await deps.queue.retryTask(id.s0 as string);
    expect(await count('BLOCKED')).toBe(999);
    expect((await deps.queue.workflows.get(wf.id))?.status).toBe('RUNNING');
    expect(await miscountedWorkflows(sql)).toEqual([]);
  });
});
