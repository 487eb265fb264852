import { readFileSync } from 'node:fs';
import { buildSchema, getNamedType, isCompositeType, type GraphQLInputObjectType, type GraphQLObjectType } from 'graphql';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, createClient, TaskFailedError, type EnqueueOptions, type Task, type TaskwireClient } from '../../src/client/index.js';
import { defineTask } from '../../src/worker/define-task.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The client's `Task` against the GraphQL `Task` (docs/client.md: every field but `events`, with
 * references for the nested objects), in reads and in watch() states, and `EnqueueOptions`
 * against `EnqueueTaskInput`.
 */

const schema = buildSchema(readFileSync('schema/schema.graphql', 'utf8'));
const taskType = schema.getType('Task') as GraphQLObjectType;

/** What the client selects of each object field of Task (docs/client.md); a new one must be added here and there. */
const SUBSELECTIONS: Record<string, string> = {
  errors: '{ exceptionType message traceback attempt at workerId }',
  progress: '{ current total message updatedAt }',
  schedule: '{ id key }',
  workflow: '{ id name }',
  dependsOn: '{ id stepRef }',
  backoff: '{ baseMs maxMs factor jitter }',
};

/** Every field of Task but `events` (a connection with arguments: the client's events()). */
const taskFields = Object.keys(taskType.getFields()).filter((name) => name !== 'events');

/** A GraphQL selection of every field of Task, written from the schema rather than from the client's fragment. */
function everyTaskField(): string {
  return taskFields
    .map((name) => {
      if (!isCompositeType(getNamedType(taskType.getFields()[name]!.type))) return name;
      const sub = SUBSELECTIONS[name];
      if (!sub) throw new Error(`Task.${name} is an object field: say what the client selects of it`);
      return `${name} ${sub}`;
    })
    .join(' ');
}

/** `fields.snooze(ms)`: snoozes for `ms` every time it runs. */
const snooze = defineTask({
  name: 'fields.snooze',
  args: z.tuple([z.number().int().min(0)]),
  run: ([ms], ctx) => ctx.retryAfter(ms),
});

let server: TestServer;
let client: TaskwireClient;
let gates: Gates;

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: [...gates.tasks, snooze], runner: {} });
  client = createClient({ url: server.url, retry: { baseMs: 20, maxMs: 200 } });
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

/** The task as GraphQL answers `taskResult` with every field. */
async function readOverGraphQL(id: string): Promise<unknown> {
  const res = await server.post({ query: `query($id: ID!) { taskResult(id: $id) { ${everyTaskField()} } }`, variables: { id } });
  expect(res.errors).toBeUndefined();
  return (res.data as { taskResult: unknown }).taskResult;
}

const inAMinute = (): Date => new Date(Date.now() + 60_000);

describe('Task', () => {
  it('has every field of the GraphQL Task type but events', async () => {
    const task = await client.enqueue('demo.sleep', [10], { runAfter: inAMinute() });
    expect(Object.keys(task).sort()).toEqual([...taskFields].sort());
    expect(task.waitReason).toBe('SCHEDULED');
  });

  it('reads each field as GraphQL reports it: a scheduled task, a schedule\'s task and workflow steps', async () => {
    // A paused queue holds them all still, so both reads see the same rows.
    await client.pauseQueue('fields-held');
    const later = await client.enqueue('demo.sleep', [10], { runAfter: inAMinute(), concurrencyKey: 'customer-7', idempotencyKey: 'fields-later' });
    await client.upsertSchedule({ key: 'fields-nightly', cron: '0 3 * * *', task: { name: 'demo.echo', queue: 'fields-held' } });
    const fired = await client.triggerSchedule('fields-nightly');
    const workflow = await client.enqueueWorkflow({
      ...chain({ name: 'demo.echo', args: [1], queue: 'fields-held' }, { name: 'demo.echo', args: [2], queue: 'fields-held' }),
      name: 'fields-chain',
    });
    const [first, second] = workflow.steps.map((step) => step.task);

    for (const task of [later, fired, first!, second!]) expect(await client.get(task.id)).toEqual(await readOverGraphQL(task.id));
    expect(later).toMatchObject({ waitReason: 'SCHEDULED', concurrencyKey: 'customer-7', tenant: 'default', createdBy: null, outputBytes: 0, schedule: null, workflow: null, dependsOn: [] });
    expect(fired).toMatchObject({ waitReason: 'QUEUE_PAUSED', schedule: { key: 'fields-nightly' }, scheduledFor: null });
    expect(second).toMatchObject({ status: 'BLOCKED', waitReason: 'BLOCKED', stepRef: '1', workflow: { id: workflow.id, name: 'fields-chain' }, dependsOn: [{ id: first!.id, stepRef: '0' }] });

    await client.cancelWorkflow(workflow.id);
    for (const task of [later, fired]) await client.cancel(task.id);
    await client.resumeQueue('fields-held');
  });
});

describe('EnqueueOptions', () => {
  it('takes every field of EnqueueTaskInput but name and args, which enqueue() takes apart', () => {
    const input = schema.getType('EnqueueTaskInput') as GraphQLInputObjectType;
    // Every option given: a field missing from EnqueueOptions fails to compile here, one missing from this literal fails below.
    const every: Required<Omit<EnqueueOptions, 'readToken'>> = {
      kwargs: {},
      queue: 'q',
      priority: 0,
      runAfter: new Date(),
      maxAttempts: 1,
      idempotencyKey: 'k',
      concurrencyKey: 'c',
      timeoutMs: 1,
      resultTtlMs: 0,
      backoff: {},
    };
    expect(Object.keys(every).sort()).toEqual(Object.keys(input.getFields()).filter((name) => name !== 'name' && name !== 'args').sort());
  });

  it('timeoutMs, resultTtlMs and backoff reach the server and take effect', async () => {
    const slow = await client.enqueue('demo.sleep', [60_000], { timeoutMs: 200 });
    expect(slow.timeoutMs).toBe(200);
    const failure = await client.wait(slow.id, { timeoutMs: 10_000 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TaskFailedError);
    expect((failure as TaskFailedError).task.errors[0]).toMatchObject({ exceptionType: 'TimeoutError' });

    const ttl = 7 * 86_400_000; // a week: more than an Int holds
    const kept = await client.enqueue('math.copysign', [1, -1], { resultTtlMs: ttl });
    expect(await client.wait(kept.id, { timeoutMs: 10_000 })).toBe(-1);
    const done = (await client.get(kept.id))!;
    expect(done.resultTtlMs).toBe(ttl);
    expect(Date.parse(done.expiresAt!) - Date.parse(done.finishedAt!)).toBe(ttl);

    const spaced = await client.enqueue('demo.fail', ['spaced'], { maxAttempts: 2, backoff: { baseMs: 30_000, maxMs: 30_000, jitter: 0 } });
    expect(spaced.backoff).toEqual({ baseMs: 30_000, maxMs: 30_000, factor: 2, jitter: 0 });
    const retrying = await waitFor(async () => {
      const task = await client.get(spaced.id);
      return task?.status === 'RETRYING' ? task : undefined;
    }, { message: 'the retry to be scheduled' });
    expect(Date.parse(retrying.runAfter!) - Date.parse(retrying.errors[0]!.at)).toBeGreaterThanOrEqual(30_000);
    await client.cancel(spaced.id);
  });

  it('a bad one is the server\'s BAD_USER_INPUT naming the input field', async () => {
    const error = await client.enqueue('demo.echo', [], { backoff: { jitter: 3 } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.backoff.jitter' });
  });

  it('concurrencyKey shares a turn: the queue\'s perKeyConcurrency holds the second task of a key (KEY_LIMIT)', async () => {
    await client.setQueueLimits('fields-keyed', { perKeyConcurrency: 1 });
    const running = await client.enqueue('test.gate', ['fields-key-1'], { queue: 'fields-keyed', concurrencyKey: 'customer-1' });
    await waitFor(async () => (await client.get(running.id))?.status === 'RUNNING', { message: 'the first task to run' });
    const held = await client.enqueue('test.gate', ['fields-key-2'], { queue: 'fields-keyed', concurrencyKey: 'customer-1' });
    expect(held.concurrencyKey).toBe('customer-1');
    await waitFor(async () => (await client.get(held.id))?.waitReason === 'KEY_LIMIT', { message: 'KEY_LIMIT' });
    const other = await client.enqueue('test.gate', ['fields-key-3'], { queue: 'fields-keyed', concurrencyKey: 'customer-2' });
    await waitFor(async () => (await client.get(other.id))?.status === 'RUNNING', { message: 'another key to run' });
    for (const key of ['fields-key-1', 'fields-key-2', 'fields-key-3']) gates.open(key);
    for (const task of [running, held, other]) expect(await client.wait(task.id, { timeoutMs: 10_000 })).toBe((task.args as string[])[0]);
  });
});

describe('watch', () => {
  it('states carry waitReason: why it waits while it does, null once it runs', async () => {
    await client.pauseQueue('fields-watch');
    const task = await client.enqueue('demo.echo', ['w'], { queue: 'fields-watch' });
    const states: Task[] = [];
    for await (const state of client.watch(task.id)) {
      states.push(state);
      if (states.length === 1) await client.resumeQueue('fields-watch');
    }
    expect(states.map((s) => [s.status, s.waitReason])[0]).toEqual(['PENDING', 'QUEUE_PAUSED']);
    // Once resumed nothing holds it. On a loaded machine a worker may hand a task it claimed ahead back
    // before starting it (it waited too long for a free slot: RUNNING, PENDING, then RUNNING again):
    // waiting then for nothing but a worker, its reason is null too.
    expect(states.slice(1).map((s) => s.waitReason)).toEqual(states.slice(1).map(() => null));
    expect(states.slice(1).map((s) => s.status).join(' ')).toMatch(/^RUNNING (PENDING RUNNING )*SUCCEEDED$/);
    expect(states.at(-1)).toEqual(await client.get(task.id));
  });

  it('a live return to waiting is read from the row: a snoozed task is SCHEDULED, with its new runAfter', async () => {
    const task = await client.enqueue('fields.snooze', [60_000]);
    const states: Task[] = [];
    for await (const state of client.watch(task.id, { afterVersion: task.version })) {
      states.push(state);
      if (state.status === 'PENDING') break;
    }
    const waiting = states.at(-1)!;
    expect(states.map((s) => [s.status, s.waitReason])).toEqual([
      ['RUNNING', null],
      ['PENDING', 'SCHEDULED'],
    ]);
    expect(Date.parse(waiting.runAfter!)).toBeGreaterThan(Date.now() + 30_000);
    expect(waiting).toEqual(await client.get(task.id));
    await client.cancel(task.id);
  });

  it('the final state is the row: outputBytes included', async () => {
    const task = await client.enqueue('demo.output', [3, 0]);
    let last: Task | undefined;
    for await (const state of client.watch(task.id)) last = state;
    expect(last?.outputBytes).toBeGreaterThan(0);
    expect(last).toEqual(await client.get(task.id));
  });
});
