import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/queue/uuid.js';
import { defineTask } from '../../src/worker/define-task.js';
import {
  WfCancelDocument,
  WfChangedDocument,
  WfEnqueueDocument,
  WfGetDocument,
  WfNodeDocument,
  WfTaskDocument,
  WfTasksDocument,
  type EnqueueWorkflowInput,
  type WfWorkflowFragment,
} from '../generated/graphql.js';
import { useTestServer } from '../helpers/app.js';
import { onlyError } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

/** Its first argument plus every parent's result (ctx.dependencies): a diamond's sink adds up the graph. */
const sum = defineTask({
  name: 'wf.sum',
  run: (args, ctx) => {
    const deps = (ctx as unknown as { dependencies?: Record<string, unknown> }).dependencies ?? {};
    return Number(args[0] ?? 0) + Object.values(deps).reduce<number>((total, v) => total + Number(v), 0);
  },
});

const env = useTestServer({ tasks: [sum] });

const step = (ref: string, n: number, dependsOn?: string[]): EnqueueWorkflowInput['steps'][number] => ({
  ref,
  task: { name: 'wf.sum', args: [n] },
  ...(dependsOn ? { dependsOn } : {}),
});
/** a(1) → b(10), c(100) → d(1000): d returns 1000 + (10 + 1) + (100 + 1) = 1112. */
const DIAMOND = (name = 'diamond'): EnqueueWorkflowInput => ({
  name,
  steps: [step('a', 1), step('b', 10, ['a']), step('c', 100, ['a']), step('d', 1000, ['b', 'c'])],
});

async function enqueue(input: EnqueueWorkflowInput): Promise<WfWorkflowFragment> {
  const res = await env.server.execute(WfEnqueueDocument, { input });
  if (!res.data) throw new Error(`enqueueWorkflow failed: ${JSON.stringify(res.errors)}`);
  return res.data.enqueueWorkflow.workflow;
}

const byRef = (w: WfWorkflowFragment): Record<string, WfWorkflowFragment['steps'][number]> => Object.fromEntries(w.steps.map((s) => [s.ref, s]));

describe('enqueueWorkflow', () => {
  it('stores every step, those with dependencies BLOCKED, and answers the workflow RUNNING at version ≥ 1', async () => {
    const w = await enqueue(DIAMOND());
    expect(w).toMatchObject({ name: 'diamond', status: 'RUNNING', finishedAt: null });
    expect(w.version).toBeGreaterThanOrEqual(1);
    expect(w.stepCounts).toEqual({ total: 4, finished: 0, succeeded: 0 });
    expect(w.steps.map((s) => [s.ref, s.dependsOn, s.task.status, s.task.stepRef])).toEqual([
      ['a', [], 'PENDING', 'a'],
      ['b', ['a'], 'BLOCKED', 'b'],
      ['c', ['a'], 'BLOCKED', 'c'],
      ['d', ['b', 'c'], 'BLOCKED', 'd'],
    ]);
    const again = await env.server.execute(WfGetDocument, { id: w.id });
    expect(again.data?.workflow).toEqual(w);
  });

  it.each([
    ['a cycle', [step('a', 1, ['c']), step('b', 1, ['a']), step('c', 1, ['b'])], /^input\.steps\[\d\]/],
    ['an unknown dependsOn ref', [step('a', 1), step('b', 1, ['nope'])], /^input\.steps\[1\]/],
    ['a duplicate ref', [step('a', 1), step('a', 2)], /^input\.steps\[1\]/],
    ['a step depending on itself', [step('a', 1, ['a'])], /^input\.steps\[0\]/],
    ['a bad task (unknown name)', [step('a', 1), { ref: 'b', task: { name: 'no.such.task' } }], /^input\.steps\[1\]/],
    ['a bad task (args not an array)', [step('a', 1), { ref: 'b', task: { name: 'wf.sum', args: { x: 1 } } }], /^input\.steps\[1\]/],
    ['no steps', [], /^input\.steps/],
  ])('refuses %s with BAD_USER_INPUT naming the step, storing nothing', async (_what, steps, field) => {
    const before = await env.server.countTasks();
    const res = await env.server.execute(WfEnqueueDocument, { input: { steps } });
    const error = onlyError(res);
    expect(error.extensions?.code).toBe('BAD_USER_INPUT');
    expect(String(error.extensions?.field)).toMatch(field);
    expect(res.data).toBeNull();
    expect(await env.server.countTasks()).toBe(before);
  });

  it('returns the stored workflow for the same idempotency key, making nothing new', async () => {
    const key = `wf-${uuidv7()}`;
    const first = await enqueue({ ...DIAMOND(), idempotencyKey: key });
    const before = await env.server.countTasks();
    const second = await enqueue({ ...DIAMOND('other name'), idempotencyKey: key });
    expect(second.id).toBe(first.id);
    expect(await env.server.countTasks()).toBe(before);
  });
});

describe('workflow reads', () => {
  it('answers an unknown id with null / NOT_FOUND, and a malformed one with BAD_USER_INPUT', async () => {
    const unknown = uuidv7();
    expect((await env.server.execute(WfGetDocument, { id: unknown })).data?.workflow).toBeNull();
    expect(onlyError(await env.server.execute(WfCancelDocument, { id: unknown })).extensions?.code).toBe('NOT_FOUND');
    expect(onlyError(await env.server.execute(WfGetDocument, { id: 'nope' })).extensions?.code).toBe('BAD_USER_INPUT');
    for (const stream of [env.server.subscribeWs(WfChangedDocument, { id: unknown }), env.server.subscribeSse(WfChangedDocument, { id: unknown })]) {
      await stream.done;
      expect(stream.values).toEqual([]);
      expect(stream.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    }
  });

  it('finds a workflow through node(id), and its steps through tasks(filter: {workflowId}) with Task.workflow and Task.dependsOn', async () => {
    const w = await enqueue(DIAMOND());
    await enqueue(DIAMOND()); // another workflow's steps must not match
    expect((await env.server.execute(WfNodeDocument, { id: w.id })).data?.node).toEqual({ id: w.id, __typename: 'Workflow', status: 'RUNNING' });
    // A malformed id is refused as what node takes, not as a task id.
    const bad = await env.server.execute(WfNodeDocument, { id: 'abc' });
    expect(bad.errors?.[0]).toMatchObject({ message: 'id must be the UUID of a task, a workflow, a schedule or a bulk action, got "abc"', extensions: { code: 'BAD_USER_INPUT', field: 'id' } });

    const res = await env.server.execute(WfTasksDocument, { filter: { workflowId: w.id }, first: 100 });
    const nodes = res.data?.tasks.edges.map((e) => e.node) ?? [];
    expect(res.data?.tasks.totalCount).toBe(4);
    expect(nodes.map((n) => n.stepRef).sort()).toEqual(['a', 'b', 'c', 'd']);
    for (const n of nodes) expect(n.workflow).toEqual({ id: w.id, status: 'RUNNING' });
    const d = nodes.find((n) => n.stepRef === 'd');
    expect(d?.dependsOn.map((p) => p.stepRef).sort()).toEqual(['b', 'c']);
    expect(d?.dependsOn.map((p) => p.id).sort()).toEqual([byRef(w).b?.task.id, byRef(w).c?.task.id].sort());

    const single = await env.server.execute(WfTaskDocument, { id: byRef(w).a?.task.id ?? '' });
    expect(single.data?.taskResult).toMatchObject({ stepRef: 'a', workflow: { id: w.id, name: 'diamond' }, dependsOn: [] });
  });

  it("refuses steps read through their steps before it runs (a tester's 27 M objects), and answers one level", async () => {
    const w = await enqueue({ name: 'wide', steps: Array.from({ length: 30 }, (_, i) => step(`s${i}`, i)) });
    const nested = await env.server.post({ query: `{ workflow(id: "${w.id}") { steps { task { workflow { steps { task { workflow { steps { ref } } } } } } } } }` });
    expect(nested.status).toBe(400);
    expect(nested.errors?.map((e) => e.extensions?.limit)).toEqual(['maxCost']);
    expect(nested.data ?? null).toBeNull();
    const flat = await env.server.post({ query: `{ workflow(id: "${w.id}") { steps { ref task { id dependsOn { id } } } } }` });
    expect(flat.errors).toBeUndefined();
    expect((flat.data as { workflow: { steps: unknown[] } }).workflow.steps).toHaveLength(30);
  });

  it('gives a task enqueued on its own no workflow and no parents', async () => {
    const id = await env.server.enqueue('demo.echo', [1]);
    const res = await env.server.execute(WfTaskDocument, { id });
    expect(res.data?.taskResult).toMatchObject({ stepRef: null, workflow: null, dependsOn: [] });
    expect((await env.server.execute(WfTasksDocument, { filter: { workflowId: uuidv7() }, first: 10 })).data?.tasks.totalCount).toBe(0);
  });
});

describe('a diamond run by a worker, watched with workflowChanged', () => {
  it('releases each step after its parents, passes results on, and ends SUCCEEDED; both transports see increasing versions, then complete', async () => {
    const w = await enqueue(DIAMOND());
    const ws = env.server.subscribeWs(WfChangedDocument, { id: w.id });
    const sse = env.server.subscribeSse(WfChangedDocument, { id: w.id });
    await ws.waitFor(() => true);
    await sse.waitFor(() => true);
    await env.server.startRunner();
    try {
      for (const stream of [ws, sse]) {
        expect(await stream.done).toBe('complete');
        expect(stream.errors).toEqual([]);
        const versions = stream.values.map((v) => v.workflowChanged.version);
        expect(versions[0]).toBe(w.version);
        for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);
        const last = stream.values.at(-1)?.workflowChanged as WfWorkflowFragment;
        expect(last.status).toBe('SUCCEEDED');
        expect(last.finishedAt).not.toBeNull();
        expect(stream.values.slice(0, -1).every((v) => v.workflowChanged.status === 'RUNNING')).toBe(true);
        expect(last.steps.every((s) => s.task.status === 'SUCCEEDED')).toBe(true);
        // The row's counters: each version's never behind the one before, all four at the end.
        const finished = stream.values.map((v) => v.workflowChanged.stepCounts.finished);
        for (let i = 1; i < finished.length; i++) expect(finished[i]).toBeGreaterThanOrEqual(finished[i - 1] as number);
        expect(last.stepCounts).toEqual({ total: 4, finished: 4, succeeded: 4 });
        expect(byRef(last).d?.task.returnValue).toBe(1112);
      }
    } finally {
      await env.server.stopRunners();
    }
    // A finished workflow: one state, then the end.
    const late = env.server.subscribeWs(WfChangedDocument, { id: w.id });
    expect(await late.done).toBe('complete');
    expect(late.values.map((v) => v.workflowChanged.status)).toEqual(['SUCCEEDED']);
  });

  it('reads each change once however many subscribe', async () => {
    const w = await enqueue(DIAMOND());
    const stats = env.server.app.workflowStats;
    const streams = Array.from({ length: 20 }, (_, i) => (i % 2 ? env.server.subscribeWs(WfChangedDocument, { id: w.id }, env.server.wsClient()) : env.server.subscribeSse(WfChangedDocument, { id: w.id })));
    for (const s of streams) await s.waitFor(() => true);
    const readsBefore = stats.reads;
    const changesBefore = stats.changes;
    await env.server.startRunner();
    try {
      for (const s of streams) expect(await s.done).toBe('complete');
    } finally {
      await env.server.stopRunners();
    }
    for (const s of streams) expect(s.values.at(-1)?.workflowChanged.status).toBe('SUCCEEDED');
    // At most one read per announced change (conflation may make it fewer), not one per subscriber.
    expect(stats.reads - readsBefore).toBeGreaterThan(0);
    expect(stats.reads - readsBefore).toBeLessThanOrEqual(stats.changes - changesBefore);
  });
});

describe('cancelWorkflow', () => {
  it('cancels every unfinished step, ends the subscription with CANCELLED, and is idempotent', async () => {
    const w = await enqueue(DIAMOND());
    const ws = env.server.subscribeWs(WfChangedDocument, { id: w.id });
    await ws.waitFor(() => true);
    const res = await env.server.execute(WfCancelDocument, { id: w.id });
    const cancelled = res.data?.cancelWorkflow as WfWorkflowFragment;
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.finishedAt).not.toBeNull();
    expect(cancelled.steps.map((s) => s.task.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED', 'CANCELLED']);
    expect(await ws.done).toBe('complete');
    expect(ws.values.at(-1)?.workflowChanged.status).toBe('CANCELLED');
    const again = await env.server.execute(WfCancelDocument, { id: w.id });
    expect(again.data?.cancelWorkflow).toMatchObject({ id: w.id, status: 'CANCELLED', version: cancelled.version });
  });

  it('cancels a running step through its AbortSignal', async () => {
    const w = await enqueue({ steps: [{ ref: 'slow', task: { name: 'test.block' } }, { ref: 'after', task: { name: 'demo.echo' }, dependsOn: ['slow'] }] });
    await env.server.startRunner();
    try {
      const slowId = byRef(w).slow?.task.id ?? '';
      await waitFor(async () => (await env.server.execute(WfTaskDocument, { id: slowId })).data?.taskResult?.status === 'RUNNING', { message: 'the step to run' });
      const ws = env.server.subscribeWs(WfChangedDocument, { id: w.id });
      await env.server.execute(WfCancelDocument, { id: w.id });
      expect(await ws.done).toBe('complete');
      expect(ws.values.at(-1)?.workflowChanged.status).toBe('CANCELLED');
      // The running step ends once its handler has given up (its AbortSignal fired).
      const ended = await waitFor(async () => {
        const now = (await env.server.execute(WfGetDocument, { id: w.id })).data?.workflow;
        return now?.steps.every((s) => s.task.status === 'CANCELLED') ? now : undefined;
      }, { message: 'every step to be CANCELLED' });
      expect(ended.status).toBe('CANCELLED');
    } finally {
      await env.server.stopRunners();
    }
  });
});

describe('a failed step, then retryTask', () => {
  it('ends the workflow FAILED (its dependent cancelled), and a retry of the failed step runs the rest to SUCCEEDED', async () => {
    const w = await enqueue({ steps: [{ ref: 'flaky', task: { name: 'test.fail-once' } }, { ref: 'after', task: { name: 'demo.echo', args: [5] }, dependsOn: ['flaky'] }] });
    await env.server.startRunner();
    try {
      const first = env.server.subscribeWs(WfChangedDocument, { id: w.id });
      expect(await first.done).toBe('complete');
      const failed = first.values.at(-1)?.workflowChanged as WfWorkflowFragment;
      expect(failed.status).toBe('FAILED');
      expect(failed.steps.map((s) => s.task.status)).toEqual(['FAILED', 'CANCELLED']);

      const retried = await env.server.post({ query: 'mutation($id: ID!) { retryTask(id: $id) { id status } }', variables: { id: byRef(w).flaky?.task.id } });
      expect(retried.errors).toBeUndefined();
      const second = env.server.subscribeWs(WfChangedDocument, { id: w.id });
      expect(await second.done).toBe('complete');
      const last = second.values.at(-1)?.workflowChanged as WfWorkflowFragment;
      expect(last.status).toBe('SUCCEEDED');
      expect(last.version).toBeGreaterThan(failed.version);
      expect(last.steps.map((s) => [s.ref, s.task.status, s.task.returnValue])).toEqual([
        ['flaky', 'SUCCEEDED', { attempt: 2 }],
        ['after', 'SUCCEEDED', { args: [5], kwargs: {} }],
      ]);
    } finally {
      await env.server.stopRunners();
    }
  });
});
