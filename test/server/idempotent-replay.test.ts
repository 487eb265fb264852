import { beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey } from '../../src/auth/api-keys.js';
import { useTestServer } from '../helpers/app.js';
import { AUTH_ENV, createTestKey } from '../helpers/auth-credentials.js';
import { errorCodes } from '../helpers/graphql.js';

// An enqueue whose idempotency key is taken answers with what is stored under it. A credential that
// may enqueue but not read must not get another credential's task that way (its args, result, a
// read token for it), nor its name from a refusal.
const env = useTestServer({ env: { ...AUTH_ENV } });
let reader: CreatedApiKey;
let enqueuer: CreatedApiKey;
beforeAll(async () => {
  reader = await createTestKey(env.server.sql, 'acme', ['tasks:read', 'tasks:enqueue']);
  enqueuer = await createTestKey(env.server.sql, 'acme', ['tasks:enqueue:demo.*']);
});

const ENQUEUE = 'mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id args createdBy } readToken } }';
const BATCH = 'mutation ($inputs: [EnqueueTaskInput!]!) { enqueueTasks(inputs: $inputs) { tasks { id args createdBy } } }';
const WORKFLOW = 'mutation ($input: EnqueueWorkflowInput!) { enqueueWorkflow(input: $input) { workflow { id steps { ref } } } }';
const as = (key: CreatedApiKey) => ({ authorization: `Bearer ${key.key}` });

describe('an idempotency key that is taken', () => {
  it("gives an enqueue-only credential FORBIDDEN for another's task, and its own task back as always", async () => {
    const { server } = env;
    const stored = await server.post({ query: ENQUEUE, variables: { input: { name: 'demo.echo', args: ['secret'], idempotencyKey: 'k-task' } } }, as(reader));
    const storedId = (stored.data as { enqueueTask: { task: { id: string } } }).enqueueTask.task.id;

    const replay = await server.post({ query: ENQUEUE, variables: { input: { name: 'demo.echo', args: ['other'], idempotencyKey: 'k-task' } } }, as(enqueuer));
    expect(errorCodes(replay.errors)).toEqual(['FORBIDDEN']);
    expect(replay.errors?.[0]?.extensions?.field).toBe('input.idempotencyKey');
    expect(JSON.stringify(replay)).not.toContain('secret');

    // A different name: CONFLICT, naming the stored task by id, not by its name.
    const conflict = await server.post({ query: ENQUEUE, variables: { input: { name: 'demo.sleep', args: [1], idempotencyKey: 'k-task' } } }, as(enqueuer));
    expect(errorCodes(conflict.errors)).toEqual(['CONFLICT']);
    expect(conflict.errors?.[0]?.message).toBe(`idempotencyKey "k-task" already belongs to task ${storedId}, not to a "demo.sleep" task`);

    // Its own key, twice: the same task both times.
    const first = await server.post({ query: ENQUEUE, variables: { input: { name: 'demo.echo', args: ['mine'], idempotencyKey: 'k-own' } } }, as(enqueuer));
    const again = await server.post({ query: ENQUEUE, variables: { input: { name: 'demo.echo', args: ['mine'], idempotencyKey: 'k-own' } } }, as(enqueuer));
    const taskOf = (r: typeof first) => (r.data as { enqueueTask: { task: unknown } } | undefined)?.enqueueTask.task;
    expect(again.errors).toBeUndefined();
    expect(taskOf(again)).toEqual(taskOf(first));
    expect(taskOf(again)).toMatchObject({ args: ['mine'], createdBy: enqueuer.id });

    // With tasks:read, another's task comes back.
    const read = await server.post({ query: ENQUEUE, variables: { input: { name: 'demo.echo', idempotencyKey: 'k-own' } } }, as(reader));
    expect(read.errors).toBeUndefined();
  });

  it("enqueueTasks: another's key at any index is FORBIDDEN on inputs[i].idempotencyKey, and none of the batch is stored", async () => {
    const { server } = env;
    await server.post({ query: ENQUEUE, variables: { input: { name: 'demo.echo', args: ['secret'], idempotencyKey: 'k-batch-theirs' } } }, as(reader));
    const before = await server.countTasks();
    const inputs = [
      { name: 'demo.echo', args: ['new'], idempotencyKey: 'k-batch-new' },
      { name: 'demo.echo', args: ['plain'] },
      { name: 'demo.echo', args: ['other'], idempotencyKey: 'k-batch-theirs' },
    ];
    const replay = await server.post({ query: BATCH, variables: { inputs } }, as(enqueuer));
    expect(errorCodes(replay.errors)).toEqual(['FORBIDDEN']);
    expect(replay.errors?.[0]?.extensions?.field).toBe('inputs[2].idempotencyKey');
    expect(JSON.stringify(replay)).not.toContain('secret');
    expect(await server.countTasks()).toBe(before);

    // Its own keys come back, also a key repeated inside the batch; with tasks:read another's does too.
    const own = [
      { name: 'demo.echo', args: ['mine'], idempotencyKey: 'k-batch-own' },
      { name: 'demo.echo', args: ['again'], idempotencyKey: 'k-batch-own' },
    ];
    const first = await server.post({ query: BATCH, variables: { inputs: own } }, as(enqueuer));
    expect(first.errors).toBeUndefined();
    const tasks = (r: typeof first) => (r.data as { enqueueTasks: { tasks: { id: string; args: unknown }[] } }).enqueueTasks.tasks;
    expect(tasks(first)[1]).toEqual(tasks(first)[0]);
    expect(tasks(first)[0]).toMatchObject({ args: ['mine'] });
    const again = await server.post({ query: BATCH, variables: { inputs: own } }, as(enqueuer));
    expect(tasks(again)).toEqual(tasks(first));
    const read = await server.post({ query: BATCH, variables: { inputs: [inputs[2]] } }, as(reader));
    expect(read.errors).toBeUndefined();
    expect(tasks(read)[0]).toMatchObject({ args: ['secret'] });
  });

  it("gives an enqueue-only credential FORBIDDEN for another's workflow", async () => {
    const { server } = env;
    const input = { idempotencyKey: 'k-flow', steps: [{ ref: 'a', task: { name: 'demo.echo', args: ['secret'] } }] };
    const stored = await server.post({ query: WORKFLOW, variables: { input } }, as(reader));
    expect(stored.errors).toBeUndefined();
    const replay = await server.post({ query: WORKFLOW, variables: { input } }, as(enqueuer));
    expect(errorCodes(replay.errors)).toEqual(['FORBIDDEN']);
    const own = await server.post({ query: WORKFLOW, variables: { input: { ...input, idempotencyKey: 'k-flow-own' } } }, as(enqueuer));
    const ownAgain = await server.post({ query: WORKFLOW, variables: { input: { ...input, idempotencyKey: 'k-flow-own' } } }, as(enqueuer));
    expect(ownAgain).toEqual(own);
  });
});
