import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, chord, createClient, group, RequestError, type TaskwireClient, type Workflow } from '../../src/client/index.js';
import * as core from '../../src/queue/workflows/canvas.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { defineTask } from '../../src/worker/define-task.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

/** Its first argument plus every parent's result, keyed as the parents' refs say. */
const add = defineTask({
  name: 'wf.add',
  run: (args, ctx) => {
    const deps = (ctx as unknown as { dependencies?: Record<string, unknown> }).dependencies ?? {};
    return Number(args[0] ?? 0) + Object.values(deps).reduce<number>((sum, v) => sum + Number(v), 0);
  },
});
/** The parents' results as it got them, keyed by ref. */
const collect = defineTask({
  name: 'wf.collect',
  run: (_args, ctx) => (ctx as unknown as { dependencies?: Record<string, unknown> }).dependencies ?? {},
});

let server: TestServer;
let client: TaskwireClient;

beforeAll(async () => {
  server = await startTestServer({ tasks: [add, collect], runner: {} });
  client = createClient({ url: server.url, retry: { baseMs: 20, maxMs: 200 } });
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Every state watchWorkflow yields, until it ends. */
async function watchAll(id: string): Promise<Workflow[]> {
  const seen: Workflow[] = [];
  for await (const w of client.watchWorkflow(id)) seen.push(w);
  return seen;
}

const task = (name: string, args: unknown[] = []) => ({ name, args });

describe('canvas helpers', () => {
  const a = task('wf.add', [1]);
  const b = task('wf.add', [2]);
  const c = task('wf.add', [3]);

  it('build the same workflows as the core helpers', () => {
    expect(chain(a, b, c)).toEqual(core.chain(a, b, c));
    expect(group([a, b, c])).toEqual(core.group([a, b, c]));
    expect(chord([a, b], c)).toEqual(core.chord([a, b], c));
    expect(chord([a, b], c, { onDependencyFailure: 'RUN_ANYWAY' })).toEqual(core.chord([a, b], c, { onDependencyFailure: 'RUN_ANYWAY' }));
    expect(chain(a)).toEqual(core.chain(a));
  });

  it('chain: each step after the one before; group: none waits; chord: the callback after every header task', () => {
    expect(chain(a, b, c).steps.map((s) => [s.ref, s.dependsOn ?? []])).toEqual([['0', []], ['1', ['0']], ['2', ['1']]]);
    expect(group([a, b]).steps.map((s) => [s.ref, s.dependsOn ?? []])).toEqual([['0', []], ['1', []]]);
    expect(chord([a, b], c).steps.map((s) => [s.ref, s.dependsOn ?? []])).toEqual([['header.0', []], ['header.1', []], ['callback', ['header.0', 'header.1']]]);
  });
});

describe('workflows through the client', () => {
  it('runs a chain, each step reading the one before, and watches it to SUCCEEDED (versions increasing)', async () => {
    const w = await client.enqueueWorkflow({ ...chain(task('wf.add', [1]), task('wf.add', [10]), task('wf.add', [100])), name: 'client chain' });
    expect(w).toMatchObject({ name: 'client chain', status: 'RUNNING' });
    // The answer reads the steps' tasks after the commit, and this file's worker may have claimed
    // (or even finished) the first one by then; the later steps wait for the one before them.
    const [first, ...rest] = w.steps.map((s) => s.task.status);
    expect(['PENDING', 'RUNNING', 'SUCCEEDED']).toContain(first);
    if (first !== 'SUCCEEDED') expect(rest).toEqual(['BLOCKED', 'BLOCKED']);
    const seen = await watchAll(w.id);
    const versions = seen.map((s) => s.version);
    expect(versions).toEqual([...new Set(versions)].sort((x, y) => x - y));
    const last = seen.at(-1) as Workflow;
    expect(last.status).toBe('SUCCEEDED');
    expect(last.steps.map((s) => s.task.returnValue)).toEqual([1, 11, 111]);
    expect(await client.workflow(w.id)).toEqual(last);
  });

  it('runs a chord: the callback gets every header result by ref', async () => {
    const w = await client.enqueueWorkflow(chord([task('wf.add', [1]), task('wf.add', [2]), task('wf.add', [3])], task('wf.collect')));
    const last = (await watchAll(w.id)).at(-1) as Workflow;
    expect(last.status).toBe('SUCCEEDED');
    expect(last.steps.find((s) => s.ref === 'callback')?.task.returnValue).toEqual({ 'header.0': 1, 'header.1': 2, 'header.2': 3 });
  });

  it('cancels a workflow; watching a finished one yields its state once', async () => {
    const w = await client.enqueueWorkflow(chain(task('demo.sleep', [60_000]), task('wf.add', [1])));
    const cancelled = await client.cancelWorkflow(w.id);
    expect(cancelled.status).toBe('CANCELLED');
    const seen = await watchAll(w.id);
    expect(seen.map((s) => s.status)).toEqual(['CANCELLED']);
  });

  it('refuses a bad graph with RequestError BAD_USER_INPUT naming the step', async () => {
    const error = await rejectionOf(client.enqueueWorkflow({ steps: [{ ref: 'a', task: task('wf.add'), dependsOn: ['missing'] }] }));
    expect(error).toBeInstanceOf(RequestError);
    expect((error as RequestError).code).toBe('BAD_USER_INPUT');
    expect((error as RequestError).field).toMatch(/^input\.steps\[0\]/);
  });

  it('answers an unknown id with null, and NOT_FOUND from cancelWorkflow and watchWorkflow', async () => {
    const id = uuidv7();
    expect(await client.workflow(id)).toBeNull();
    expect(await rejectionOf(client.cancelWorkflow(id))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await rejectionOf(watchAll(id))).toMatchObject({ code: 'NOT_FOUND' });
  });
});
