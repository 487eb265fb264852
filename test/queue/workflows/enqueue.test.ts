import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { chain, chord, group } from '../../../src/queue/workflows/canvas.js';
import type { EnqueueWorkflowInput } from '../../../src/queue/workflows/types.js';
import { useQueueTestApp } from '../../helpers/factories.js';
import { waitFor } from '../../helpers/wait.js';
import { idsOf } from '../../helpers/workflows.js';

const env = useQueueTestApp();

const echo = (label: string) => ({ name: 'demo.echo', args: [label] });
const step = (ref: string, dependsOn: string[] = []) => ({ ref, task: echo(ref), dependsOn });

async function refused(input: EnqueueWorkflowInput): Promise<AppError> {
  const before = await env.app.countTasks();
  const error = await env.app.deps.queue.workflows.enqueue(input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect(await env.app.countTasks()).toBe(before);
  const [w] = await env.app.sql`SELECT count(*)::int AS n FROM workflows`;
  expect(w?.n).toBe(workflowsSoFar);
  return error as AppError;
}
let workflowsSoFar = 0;

describe('workflows.enqueue', () => {
  it('stores every step in one statement: roots PENDING, the others BLOCKED with their parent count', async () => {
    const wf = await env.app.deps.queue.workflows.enqueue({ name: 'diamond', steps: [step('a'), step('b', ['a']), step('c', ['a']), step('d', ['b', 'c'])] });
    workflowsSoFar += 1;
    expect(wf).toMatchObject({ name: 'diamond', status: 'RUNNING', version: 1, finishedAt: null, tenant: 'default' });
    expect(wf.steps.map((s) => [s.ref, s.dependsOn])).toEqual([['a', []], ['b', ['a']], ['c', ['a']], ['d', ['b', 'c']]]);
    expect(await env.app.deps.queue.workflows.get(wf.id)).toEqual(wf);
    const rows = await env.app.sql`
      SELECT t.step_ref, t.status, t.waiting_parents, t.xmin::text AS tx, e.type, e.status AS event_status
      FROM tasks t JOIN task_events e ON e.task_id = t.id WHERE t.workflow_id = ${wf.id} ORDER BY t.step_ref`;
    expect(rows.map((r) => [r.stepRef, r.status, r.waitingParents, r.type, r.eventStatus])).toEqual([
      ['a', 'PENDING', 0, 'ENQUEUED', 'PENDING'],
      ['b', 'BLOCKED', 1, 'ENQUEUED', 'BLOCKED'],
      ['c', 'BLOCKED', 1, 'ENQUEUED', 'BLOCKED'],
      ['d', 'BLOCKED', 2, 'ENQUEUED', 'BLOCKED'],
    ]);
    const [w] = await env.app.sql`SELECT xmin::text AS tx FROM workflows WHERE id = ${wf.id}`;
    expect(new Set(rows.map((r) => r.tx))).toEqual(new Set([w?.tx]));
    const d = await env.app.deps.queue.getTask(idsOf(wf).d as string);
    expect(d).toMatchObject({ workflowId: wf.id, stepRef: 'd', dependsOn: [idsOf(wf).b, idsOf(wf).c], onDependencyFailure: 'CANCEL' });
  });

  it('stores 1,000 steps in one transaction', async () => {
    const wf = await env.app.deps.queue.workflows.enqueue(chain(...Array.from({ length: 1000 }, (_, i) => echo(`s${i}`))));
    workflowsSoFar += 1;
    const [row] = await env.app.sql`SELECT count(*)::int AS n, count(DISTINCT xmin::text)::int AS txs FROM tasks WHERE workflow_id = ${wf.id}`;
    expect(row).toMatchObject({ n: 1000, txs: 1 });
  });

  it.each([
    ['a cycle', [step('a', ['c']), step('b', ['a']), step('c', ['b'])], /cycle/],
    ['an unknown dependsOn ref', [step('a'), step('b', ['nope'])], /"b"/],
    ['a duplicate ref', [step('a'), step('a')], /"a"/],
    ['a step depending on itself', [step('a', ['a'])], /"a"/],
    ['an unknown task name', [step('a'), { ref: 'b', task: { name: 'no.such.task' }, dependsOn: ['a'] }], /"b"/],
    ['bad arguments', [{ ref: 'x', task: { name: 'math.copysign', args: ['one'] } }], /"x"/],
    ['a bad policy', [{ ref: 'x', task: echo('x'), onDependencyFailure: 'MAYBE' as never }], /"x"/],
  ])('refuses %s with BAD_USER_INPUT naming the step, storing nothing', async (_what, steps, names) => {
    const error = await refused({ steps });
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.message).toMatch(names);
    expect(error.field).toMatch(/^steps\[\d+\]/);
  });

  it('refuses an empty workflow', async () => {
    expect((await refused({ steps: [] })).code).toBe('BAD_USER_INPUT');
  });

  it('returns the stored workflow for an idempotency key already used in the tenant, storing nothing more', async () => {
    const q = env.app.deps.queue;
    const first = await q.workflows.enqueue({ idempotencyKey: 'nightly', steps: [step('a'), step('b', ['a'])] });
    workflowsSoFar += 1;
    const count = await env.app.countTasks();
    const again = await q.workflows.enqueue({ idempotencyKey: 'nightly', steps: [step('other')] });
    expect(again.id).toBe(first.id);
    expect(await env.app.countTasks()).toBe(count);
    // Another tenant's key is another workflow; and it cannot see the first.
    const other = q.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: 'k1' });
    const theirs = await other.workflows.enqueue({ idempotencyKey: 'nightly', steps: [step('a')] });
    workflowsSoFar += 1;
    expect(theirs.id).not.toBe(first.id);
    expect(theirs.tenant).toBe('acme');
    expect(await other.workflows.get(first.id)).toBeUndefined();
    await expect(other.workflows.cancel(first.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("stores a workflow in the caller's transaction: nothing of it when that rolls back, all of it (and its replay) when it commits", async () => {
    const q = env.app.deps.queue;
    const tasksBefore = await env.app.countTasks();
    let rolledBack: string | undefined;
    await env.app.sql
      .begin(async (tx) => {
        const wf = await q.workflows.enqueue({ idempotencyKey: 'in-tx', steps: [step('a'), step('b', ['a'])] }, { tx });
        rolledBack = wf.id;
        // Inside the transaction: stored, readable, and its key replays to it.
        expect((await q.workflows.enqueue({ idempotencyKey: 'in-tx', steps: [step('x')] }, { tx })).id).toBe(wf.id);
        const [row] = await tx`SELECT count(*)::int AS n FROM tasks WHERE workflow_id = ${wf.id}`;
        expect(row?.n).toBe(2);
        throw new Error('the caller rolls back');
      })
      .catch((e: unknown) => expect((e as Error).message).toBe('the caller rolls back'));
    expect(rolledBack).toBeDefined();
    expect(await q.workflows.get(rolledBack as string)).toBeUndefined();
    expect(await env.app.countTasks()).toBe(tasksBefore);
    const [events] = await env.app.sql`SELECT count(*)::int AS n FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE t.workflow_id = ${rolledBack as string}`;
    expect(events?.n).toBe(0);

    // Committed: stored with its steps, which run (the key was free again after the rollback).
    const committed = await env.app.sql.begin((tx) => q.workflows.enqueue({ idempotencyKey: 'in-tx', steps: [step('a'), step('b', ['a'])] }, { tx }));
    workflowsSoFar += 1;
    expect(committed.id).not.toBe(rolledBack);
    expect(await q.workflows.get(committed.id)).toMatchObject({ id: committed.id, status: 'RUNNING' });
    const runner = await env.app.startRunner();
    await waitFor(async () => (await q.workflows.get(committed.id))?.status === 'SUCCEEDED', { message: 'the committed workflow to succeed' });
    await runner.stop();
  });
});

describe('canvas', () => {
  it('builds a chain, a group and a chord', () => {
    expect(chain(echo('a'), echo('b'), echo('c')).steps.map((s) => [s.ref, s.dependsOn ?? []])).toEqual([['0', []], ['1', ['0']], ['2', ['1']]]);
    expect(group([echo('a'), echo('b')]).steps.map((s) => [s.ref, s.dependsOn ?? []])).toEqual([['0', []], ['1', []]]);
    const c = chord([echo('a'), echo('b')], echo('sum'), { onDependencyFailure: 'RUN_ANYWAY' });
    expect(c.steps.map((s) => [s.ref, s.dependsOn ?? [], s.onDependencyFailure ?? 'CANCEL'])).toEqual([
      ['header.0', [], 'CANCEL'],
      ['header.1', [], 'CANCEL'],
      ['callback', ['header.0', 'header.1'], 'RUN_ANYWAY'],
    ]);
  });
});
