import { describe, expect, it } from 'vitest';
import { MAX_ENQUEUE_BATCH } from '../../src/graphql/types/mutations.js';
import { useTestServer } from '../helpers/app.js';

// enqueueTasks: many enqueueTask inputs in one statement, all or nothing, errors naming the input.
// No runner: the tasks stay as stored.
const env = useTestServer();

const BATCH = `mutation ($inputs: [EnqueueTaskInput!]!) {
  enqueueTasks(inputs: $inputs) { tasks { id name args kwargs queue priority maxAttempts status version idempotencyKey enqueuedAt } }
}`;

interface Stored {
  id: string;
  name: string;
  args: unknown[];
  status: string;
  version: number;
  idempotencyKey: string | null;
  enqueuedAt: string;
  [field: string]: unknown;
}

/** The same without the payloads: a batch of 1,000 selecting args is over the operation cost (1,000 + 40 each). */
const BATCH_LIGHT = `mutation ($inputs: [EnqueueTaskInput!]!) { enqueueTasks(inputs: $inputs) { tasks { id name status version } } }`;

async function batch(inputs: unknown[], query = BATCH) {
  const res = await env.server.post({ query, variables: { inputs } });
  const data = res.data as { enqueueTasks: { tasks: Stored[] } } | null | undefined;
  return { errors: res.errors, tasks: data?.enqueueTasks.tasks };
}

const errorOf = (errors: Awaited<ReturnType<typeof batch>>['errors']) => errors?.map((e) => [e.extensions?.code, e.extensions?.field, e.message]);

describe('enqueueTasks', () => {
  it('stores every input as a PENDING task, in input order, with its own options, in one statement', async () => {
    const { tasks, errors } = await batch([
      { name: 'math.copysign', args: [1, -1] },
      { name: 'demo.echo', args: ['b'], kwargs: { k: 1 }, queue: 'batch-q', priority: 7, maxAttempts: 3 },
      { name: 'demo.sleep', args: [5] },
    ]);
    expect(errors).toBeUndefined();
    expect(tasks?.map((t) => [t.name, t.args, t.status, t.version])).toEqual([
      ['math.copysign', [1, -1], 'PENDING', 1],
      ['demo.echo', ['b'], 'PENDING', 1],
      ['demo.sleep', [5], 'PENDING', 1],
    ]);
    expect(tasks?.[1]).toMatchObject({ kwargs: { k: 1 }, queue: 'batch-q', priority: 7, maxAttempts: 3 });
    // One statement: one enqueue time for all, and each task's log holds its ENQUEUED event.
    expect(new Set(tasks?.map((t) => t.enqueuedAt)).size).toBe(1);
    const ids = tasks?.map((t) => t.id) ?? [];
    const rows = await env.server.sql<{ task_id: string; version: number; type: string }[]>`
      SELECT task_id, version, type FROM task_events WHERE task_id = ANY(${ids}::uuid[]) ORDER BY task_id`;
    expect(rows.map((r) => [r.version, r.type])).toEqual([
      [1, 'ENQUEUED'],
      [1, 'ENQUEUED'],
      [1, 'ENQUEUED'],
    ]);
  });

  it(`takes ${MAX_ENQUEUE_BATCH} inputs at once`, async () => {
    const before = await env.server.countTasks();
    const { tasks, errors } = await batch(Array.from({ length: MAX_ENQUEUE_BATCH }, (_, i) => ({ name: 'demo.echo', args: [i] })), BATCH_LIGHT);
    expect(errors).toBeUndefined();
    const ids = tasks?.map((t) => t.id) ?? [];
    const rows = await env.server.sql<{ id: string; args: unknown[] }[]>`SELECT id, args FROM tasks WHERE id = ANY(${ids}::uuid[])`;
    const argOf = new Map(rows.map((r) => [r.id, r.args[0]]));
    expect(ids.map((id) => argOf.get(id))).toEqual(Array.from({ length: MAX_ENQUEUE_BATCH }, (_, i) => i));
    expect(await env.server.countTasks()).toBe(before + MAX_ENQUEUE_BATCH);
    // Selecting the payloads of 1,000 is over the operation cost, refused before anything runs.
    const heavy = await batch(Array.from({ length: MAX_ENQUEUE_BATCH }, (_, i) => ({ name: 'demo.echo', args: [i] })));
    expect(heavy.errors?.map((e) => [e.extensions?.code, e.extensions?.limit])).toEqual([['GRAPHQL_VALIDATION_FAILED', 'maxCost']]);
    expect(await env.server.countTasks()).toBe(before + MAX_ENQUEUE_BATCH);
  });

  it('stores none of the inputs when one is bad, and names it (also the only one) in the field and the message', async () => {
    const before = await env.server.countTasks();
    const ok = { name: 'demo.echo', args: ['fine'] };
    expect(errorOf((await batch([ok, ok, { name: 'math.copysign', args: { not: 'an array' } }])).errors)).toEqual([
      ['INVALID_ARGUMENTS', 'inputs[2].args', 'inputs[2].args must be a JSON array'],
    ]);
    expect(errorOf((await batch([ok, { name: 'no.such.task' }])).errors)).toEqual([
      ['UNKNOWN_TASK', 'inputs[1].name', expect.stringContaining('no.such.task')],
    ]);
    expect(errorOf((await batch([{ ...ok, priority: 101 }])).errors)).toEqual([
      ['BAD_USER_INPUT', 'inputs[0].priority', expect.stringContaining('inputs[0].priority')],
    ]);
    expect(errorOf((await batch([ok, { ...ok, backoff: { factor: 0 } }])).errors)).toEqual([
      ['BAD_USER_INPUT', 'inputs[1].backoff.factor', expect.stringContaining('inputs[1].backoff.factor')],
    ]);
    expect(await env.server.countTasks()).toBe(before);
  });

  it('lists every invalid input of a refused batch, not only the first, so that a load is mended in one go', async () => {
    const before = await env.server.countTasks();
    const ok = { name: 'demo.echo', args: ['fine'] };
    const res = await env.server.post({
      query: BATCH,
      variables: { inputs: [ok, { name: 'math.copysign', args: { not: 'an array' } }, ok, { name: 'no.such.task' }, { ...ok, priority: 101 }] },
    });
    expect(res.errors).toHaveLength(1);
    const [error] = res.errors ?? [];
    expect([error?.extensions?.code, error?.extensions?.field, error?.message]).toEqual([
      'INVALID_ARGUMENTS',
      'inputs[1].args',
      'inputs[1].args must be a JSON array (and 2 more invalid inputs: details.invalidInputs)',
    ]);
    expect(error?.extensions?.details).toEqual({
      invalidCount: 3,
      invalidInputs: [
        { field: 'inputs[1].args', code: 'INVALID_ARGUMENTS', message: 'inputs[1].args must be a JSON array' },
        { field: 'inputs[3].name', code: 'UNKNOWN_TASK', message: expect.stringContaining('no.such.task') },
        { field: 'inputs[4].priority', code: 'BAD_USER_INPUT', message: expect.stringContaining('inputs[4].priority') },
      ],
    });
    // Listed up to 100, counted all.
    const many = Array.from({ length: 150 }, (_, i) => ({ ...ok, priority: 200 + i }));
    const capped = (await env.server.post({ query: BATCH_LIGHT, variables: { inputs: many } })).errors?.[0];
    const details = capped?.extensions?.details as { invalidCount: number; invalidInputs: { field: string }[] };
    expect([details.invalidCount, details.invalidInputs.length, details.invalidInputs.at(-1)?.field]).toEqual([150, 100, 'inputs[99].priority']);
    expect(capped?.message).toMatch(/\(and 149 more invalid inputs: details\.invalidInputs\)$/);
    expect(await env.server.countTasks()).toBe(before);
  });

  it(`refuses an empty list and more than ${MAX_ENQUEUE_BATCH} inputs with BAD_USER_INPUT on inputs`, async () => {
    const before = await env.server.countTasks();
    expect(errorOf((await batch([])).errors)).toEqual([['BAD_USER_INPUT', 'inputs', `inputs must hold 1 to ${MAX_ENQUEUE_BATCH} tasks, got 0`]]);
    const tooMany = Array.from({ length: MAX_ENQUEUE_BATCH + 1 }, () => ({ name: 'demo.echo' }));
    expect(errorOf((await batch(tooMany, BATCH_LIGHT)).errors)).toEqual([
      ['BAD_USER_INPUT', 'inputs', `inputs must hold 1 to ${MAX_ENQUEUE_BATCH} tasks, got ${MAX_ENQUEUE_BATCH + 1}`],
    ]);
    expect(await env.server.countTasks()).toBe(before);
  });

  it('idempotency keys: a stored key and a key repeated in the batch answer with the first task; another name is CONFLICT and stores none', async () => {
    const [stored] = (await batch([{ name: 'demo.echo', args: ['first'], idempotencyKey: 'batch-k1' }])).tasks ?? [];
    const before = await env.server.countTasks();
    const { tasks, errors } = await batch([
      { name: 'demo.echo', args: ['second'], idempotencyKey: 'batch-k1' },
      { name: 'demo.echo', args: ['new'], idempotencyKey: 'batch-k2' },
      { name: 'demo.echo', args: ['repeat'], idempotencyKey: 'batch-k2' },
    ]);
    expect(errors).toBeUndefined();
    expect(tasks?.[0]).toEqual(stored);
    expect(tasks?.[2]).toEqual(tasks?.[1]);
    expect(tasks?.[1]?.args).toEqual(['new']);
    expect(await env.server.countTasks()).toBe(before + 1);

    expect(errorOf((await batch([{ name: 'demo.echo', idempotencyKey: 'batch-k3' }, { name: 'demo.sleep', args: [1], idempotencyKey: 'batch-k1' }])).errors)).toEqual([
      ['CONFLICT', 'inputs[1].idempotencyKey', 'idempotencyKey "batch-k1" already belongs to a task of another name, not to a "demo.sleep" task'],
    ]);
    expect(errorOf((await batch([{ name: 'demo.echo', idempotencyKey: 'batch-k4' }, { name: 'demo.sleep', args: [1], idempotencyKey: 'batch-k4' }])).errors)).toEqual([
      ['CONFLICT', 'inputs[1].idempotencyKey', expect.stringContaining('earlier in this batch')],
    ]);
    expect(await env.server.countTasks()).toBe(before + 1);
  });
});
