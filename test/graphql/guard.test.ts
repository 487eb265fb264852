import type { GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import {
  TaskChangesDocument,
  TaskEventFeedDocument,
  TaskEventsDocument,
  TaskVersionDocument,
} from '../generated/graphql.js';
import { encodeFeedCursor } from '../../src/queue/event-feed.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { RETRY_AFTER_MS, startGuardedServer, type GuardedClient, type GuardedServer } from '../helpers/guarded-server.js';
import type { Stream } from '../helpers/subscriptions.js';
import { waitFor } from '../helpers/wait.js';

let app: TestApp;
let server: GuardedServer;
/** A CANCELLED task (terminal: its subscriptions replay and end) and a cursor into the feed before it. */
let finished: string;
let feedCursor: string;

beforeAll(async () => {
  app = await createTestApp();
  server = await startGuardedServer(app);
  const task = await app.deps.queue.enqueue({ name: 'demo.echo' });
  await app.deps.queue.cancelTask(task.id);
  finished = task.id;
  // The feed from the task's first event on: replayed at once, so a subscription shows at once whether it runs.
  const [first] = (await app.deps.queue.listTaskEvents({ taskId: task.id, afterVersion: 0, types: [] })).events;
  feedCursor = encodeFeedCursor(first!.position);
});
afterAll(async () => {
  await server?.close();
  await app?.close();
});

function apiKey(scopes: string[]): Principal {
  return { kind: 'api-key', id: `key:${scopes.join('+') || 'none'}`, tenant: 'default', scopes };
}

/** How one operation came out: 'ok' (the data it should give), or the codes of its errors. */
type Outcome = string;

const codes = (errors: readonly GraphQLFormattedError[] | undefined): string =>
  (errors ?? []).map((e) => `${String(e.extensions?.code)}${e.extensions?.details ? ` ${(e.extensions.details as { requiredScope: string }).requiredScope}` : ''}`).join(', ');

/**
 * How a subscription came out: its error codes (a refused one has an error as its one result),
 * or 'ok' once a first value came. `produce`, given whether the stream has ended, makes the event
 * a subscription without a first state waits for.
 */
async function streamOutcome<R>(stream: Stream<R>, produce?: (ended: () => boolean) => Promise<void>): Promise<Outcome> {
  let ended = false;
  stream.done.then(
    () => (ended = true),
    () => (ended = true),
  );
  await produce?.(() => ended);
  await waitFor(() => stream.values.length > 0 || stream.errors.length > 0 || ended, { message: 'a first result' });
  stream.unsubscribe();
  if (stream.errors.length > 0) return codes(stream.errors);
  return stream.values.length > 0 ? 'ok' : 'ended empty';
}

/** A PENDING task, or a CANCELLED one, made through the core (no scope asked). */
const pending = async (): Promise<string> => (await app.deps.queue.enqueue({ name: 'demo.echo' })).id;
const cancelled = async (): Promise<string> => (await app.deps.queue.cancelTask(await pending())).id;
/** A PENDING task due in an hour. */
const later = async (): Promise<string> => (await app.deps.queue.enqueue({ name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000) })).id;

/** One operation per root field (taskStatusChanged twice: with id, and with a filter), each judged 'ok' when it did its job. */
const CASES: Record<string, (c: GuardedClient, p: Principal) => Promise<Outcome>> = {
  'Query.node': async (c) => {
    const r = await c.post('query ($id: ID!) { node(id: $id) { id } }', { id: finished });
    return (r.data?.node as { id: string } | null)?.id === finished ? 'ok' : codes(r.errors);
  },
  'Query.taskResult': async (c) => {
    const r = await c.post('query ($id: ID!) { taskResult(id: $id) { id tenant createdBy } }', { id: finished });
    return (r.data?.taskResult as { id: string } | null)?.id === finished ? 'ok' : codes(r.errors);
  },
  'Query.tasks': async (c) => {
    const r = await c.post('{ tasks(first: 1) { totalCount } }');
    return ((r.data?.tasks as { totalCount: number } | null)?.totalCount ?? 0) > 0 ? 'ok' : codes(r.errors);
  },
  'Query.queueStats': async (c) => {
    const r = await c.post('{ queueStats { queue total } }');
    return Array.isArray(r.data?.queueStats) ? 'ok' : codes(r.errors);
  },
  'Query.viewer': async (c, p) => {
    const r = await c.post('{ viewer { id kind tenant scopes } }');
    return JSON.stringify(r.data?.viewer) === JSON.stringify({ id: p.id, kind: 'API_KEY', tenant: p.tenant, scopes: p.scopes }) ? 'ok' : codes(r.errors);
  },
  'Mutation.enqueueTask': async (c) => {
    const r = await c.post('mutation { enqueueTask(input: { name: "demo.echo" }) { task { id status } readToken } }');
    const payload = r.data?.enqueueTask as { task: { status: string }; readToken: string } | null;
    return payload?.task.status === 'PENDING' && payload.readToken ? 'ok' : codes(r.errors);
  },
  'Mutation.enqueueTasks': async (c) => {
    const r = await c.post('mutation { enqueueTasks(inputs: [{ name: "demo.echo" }, { name: "demo.echo" }]) { tasks { id status } } }');
    const tasks = (r.data?.enqueueTasks as { tasks: { status: string }[] } | null)?.tasks;
    return tasks?.length === 2 && tasks.every((t) => t.status === 'PENDING') ? 'ok' : codes(r.errors);
  },
  'Mutation.cancelTask': async (c) => {
    const r = await c.post('mutation ($id: ID!) { cancelTask(id: $id) { status } }', { id: await pending() });
    return (r.data?.cancelTask as { status: string } | null)?.status === 'CANCELLED' ? 'ok' : codes(r.errors);
  },
  'Mutation.retryTask': async (c) => {
    const r = await c.post('mutation ($id: ID!) { retryTask(id: $id) { status } }', { id: await cancelled() });
    return (r.data?.retryTask as { status: string } | null)?.status === 'PENDING' ? 'ok' : codes(r.errors);
  },
  'Mutation.runTaskNow': async (c) => {
    const id = await later();
    const r = await c.post('mutation ($id: ID!) { runTaskNow(id: $id) { version } }', { id });
    return (r.data?.runTaskNow as { version: number } | null)?.version === 2 ? 'ok' : codes(r.errors);
  },
  'Mutation.createReadToken': async (c) => {
    const r = await c.post('mutation ($ids: [ID!]!) { createReadToken(taskIds: $ids) { token expiresAt } }', { ids: [finished] });
    return (r.data?.createReadToken as { token: string } | null)?.token ? 'ok' : codes(r.errors);
  },
  'Subscription.taskStatusChanged(id)': (c) => streamOutcome(c.subscribeSse(TaskVersionDocument, { id: finished })),
  'Subscription.taskStatusChanged(filter)': async (c) => {
    // A filter subscription has no first state: once it is open, a new task's change is its first event.
    await waitFor(() => server.hub.stats.subscriptions === 0, { message: 'earlier subscriptions to end' });
    const stream = c.subscribeSse(TaskChangesDocument, { filter: { name: 'demo.echo' } });
    return streamOutcome(stream, async (ended) => {
      await waitFor(() => ended() || server.hub.stats.subscriptions === 1, { message: 'the filter subscription to open or be refused' });
      if (!ended()) await pending();
    });
  },
  'Subscription.taskEvents': (c) => streamOutcome(c.subscribeSse(TaskEventsDocument, { id: finished, afterVersion: 0 })),
  'Subscription.taskEventFeed': (c) => streamOutcome(c.subscribeSse(TaskEventFeedDocument, { after: feedCursor })),
};

const READS = [
  'Query.node',
  'Query.taskResult',
  'Query.tasks',
  'Query.queueStats',
  'Mutation.createReadToken',
  'Subscription.taskStatusChanged(id)',
  'Subscription.taskStatusChanged(filter)',
  'Subscription.taskEvents',
  'Subscription.taskEventFeed',
];
/** The scope each field needs, as FORBIDDEN names it. Written out, not read from GUARD_RULES: the test checks the table. */
const NEEDS: Record<string, string> = {
  ...Object.fromEntries(READS.map((field) => [field, 'tasks:read'])),
  'Mutation.enqueueTask': 'tasks:enqueue',
  'Mutation.enqueueTasks': 'tasks:enqueue',
  'Mutation.cancelTask': 'tasks:cancel',
  'Mutation.retryTask': 'tasks:retry',
  'Mutation.runTaskNow': 'tasks:retry',
};

const PRINCIPALS: [string[], string[]][] = [
  [[], []],
  [['tasks:read'], READS],
  [['tasks:enqueue'], ['Mutation.enqueueTask', 'Mutation.enqueueTasks']],
  [['tasks:enqueue:demo.*'], ['Mutation.enqueueTask', 'Mutation.enqueueTasks']],
  [['tasks:cancel'], ['Mutation.cancelTask']],
  [['tasks:retry'], ['Mutation.retryTask', 'Mutation.runTaskNow']],
  [['schedules:write'], []],
  [['queues:admin'], []],
  [['tasks:cancel', 'tasks:retry'], ['Mutation.cancelTask', 'Mutation.retryTask', 'Mutation.runTaskNow']],
  [['admin'], Object.keys(CASES)],
];

describe('the guard', () => {
  it.each(PRINCIPALS)('scopes %j allow exactly their fields (and viewer); every other field is FORBIDDEN naming its scope', async (scopes, allowed) => {
    const principal = apiKey(scopes);
    const client = server.as(principal);
    const got: Record<string, Outcome> = {};
    for (const [field, run] of Object.entries(CASES)) got[field] = await run(client, principal);
    const expected = Object.fromEntries(
      Object.keys(CASES).map((field) => [field, field === 'Query.viewer' || allowed.includes(field) ? 'ok' : `FORBIDDEN ${NEEDS[field]}`]),
    );
    expect(got).toEqual(expected);
  });

  it('stores and changes nothing when it refuses', async () => {
    const id = await pending();
    const before = await app.countTasks();
    const reader = server.as(apiKey(['tasks:read']));
    expect(codes((await reader.post('mutation { enqueueTask(input: { name: "demo.echo" }) { task { id } } }')).errors)).toBe('FORBIDDEN tasks:enqueue');
    expect(codes((await reader.post(`mutation { cancelTask(id: "${id}") { id } }`)).errors)).toBe('FORBIDDEN tasks:cancel');
    expect(await app.countTasks()).toBe(before);
    expect((await app.deps.queue.getTask(id))?.status).toBe('PENDING');
  });

  it('answers UNAUTHENTICATED when the context carries no principal', async () => {
    const nobody = server.withToken('not-a-credential');
    for (const query of ['{ viewer { id } }', '{ tasks { totalCount } }', 'mutation { enqueueTask(input: { name: "demo.echo" }) { task { id } } }']) {
      expect(codes((await nobody.post(query)).errors)).toBe('UNAUTHENTICATED');
    }
    expect(await streamOutcome(nobody.subscribeSse(TaskEventsDocument, { id: finished }))).toBe('UNAUTHENTICATED');
  });
});

describe("a task's payload in a mutation's answer", () => {
  const errorsOf = (r: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
    (r.errors ?? []).map((e) => [e.extensions?.code, e.extensions?.field, (e.extensions?.details as { requiredScope?: string } | undefined)?.requiredScope]);

  it("is FORBIDDEN without tasks:read on a task the caller did not enqueue; its state is not (a tester's cancel-only key read results)", async () => {
    const canceller = server.as(apiKey(['tasks:cancel']));
    const id = await pending();
    const withArgs = await canceller.post('mutation ($id: ID!) { cancelTask(id: $id) { status args } }', { id });
    expect(errorsOf(withArgs)).toEqual([['FORBIDDEN', 'args', 'tasks:read']]);
    // The cancel itself went through: what it may not read is the payload.
    expect((await app.deps.queue.getTask(id))?.status).toBe('CANCELLED');
    const plain = await canceller.post('mutation ($id: ID!) { cancelTask(id: $id) { status version } }', { id: await pending() });
    expect(plain.errors).toBeUndefined();
    // A finished workflow's steps through cancelWorkflow (which changes nothing): their results stay unread.
    const wf = await app.deps.queue.workflows.enqueue({ steps: [{ ref: 'a', task: { name: 'demo.echo', args: ['secret'] } }] });
    await app.deps.queue.cancelTask(wf.steps[0]?.taskId ?? '');
    const steps = await canceller.post('mutation ($id: ID!) { cancelWorkflow(id: $id) { status steps { ref task { status args } } } }', { id: wf.id });
    expect(errorsOf(steps)).toEqual([['FORBIDDEN', 'args', 'tasks:read']]);
    expect(JSON.stringify(steps.data ?? null)).not.toContain('secret');
  });
});

describe('enqueueTask with tasks:enqueue:<glob>', () => {
  const enqueue = (c: GuardedClient, name: string, args: unknown[] = []) =>
    c.post('mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id name createdBy tenant } } }', { input: { name, args } });

  it('enqueues a name the glob matches, and refuses another with FORBIDDEN on input.name, storing nothing', async () => {
    const demo = server.as(apiKey(['tasks:enqueue:demo.*']));
    const ok = await enqueue(demo, 'demo.sleep', [1]);
    expect(ok.errors).toBeUndefined();
    expect((ok.data?.enqueueTask as { task: { name: string; tenant: string } }).task).toMatchObject({ name: 'demo.sleep', tenant: 'default' });
    const before = await app.countTasks();
    const refused = await enqueue(demo, 'math.copysign', [1, -1]);
    expect(refused.errors?.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['FORBIDDEN', 'input.name']]);
    expect(refused.data?.enqueueTask ?? null).toBeNull();
    expect(await app.countTasks()).toBe(before);
  });

  it('enqueueTasks: a name outside the glob at any index is FORBIDDEN on inputs[i].name, and none of the inputs is stored', async () => {
    const demo = server.as(apiKey(['tasks:enqueue:demo.*']));
    const before = await app.countTasks();
    const refused = await demo.post('mutation ($inputs: [EnqueueTaskInput!]!) { enqueueTasks(inputs: $inputs) { tasks { id } } }', {
      inputs: [{ name: 'demo.echo' }, { name: 'demo.sleep', args: [1] }, { name: 'math.copysign', args: [1, -1] }],
    });
    expect(refused.errors?.map((e) => [e.extensions?.code, e.extensions?.field, e.message])).toEqual([
      ['FORBIDDEN', 'inputs[2].name', 'This credential may not enqueue "math.copysign" (inputs[2]): no tasks:enqueue scope matches the name'],
    ]);
    expect(await app.countTasks()).toBe(before);
  });

  it('tells an unknown name inside the glob (UNKNOWN_TASK) from any name outside it (FORBIDDEN, whether it exists or not)', async () => {
    const demo = server.as(apiKey(['tasks:enqueue:demo.*']));
    expect(codes((await enqueue(demo, 'demo.no-such-task')).errors)).toBe('UNKNOWN_TASK');
    expect((await enqueue(demo, 'no.such.task')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await enqueue(demo, 'demox.sleep', [1])).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('the enqueue rate', () => {
  let limited: GuardedServer;
  beforeAll(async () => {
    limited = await startGuardedServer(app, { enqueueBudget: 2 });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('answers RATE_LIMITED with retryAfterMs once the budget is spent, storing nothing; refused names spend none of it', async () => {
    const c = limited.as({ ...apiKey(['tasks:enqueue:demo.*']), id: 'rate-limited-key' });
    const enqueue = (name: string) => c.post('mutation ($name: String!) { enqueueTask(input: { name: $name }) { task { id } } }', { name });
    for (let i = 0; i < 3; i++) expect((await enqueue('math.copysign')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await enqueue('demo.echo')).errors).toBeUndefined();
    expect((await enqueue('demo.echo')).errors).toBeUndefined();
    const before = await app.countTasks();
    const refused = await enqueue('demo.echo');
    expect(refused.errors?.map((e) => [e.extensions?.code, e.extensions?.retryAfterMs])).toEqual([['RATE_LIMITED', RETRY_AFTER_MS]]);
    expect(await app.countTasks()).toBe(before);
  });

  it('counts each input of enqueueTasks: a batch past the budget is RATE_LIMITED and stores none of it', async () => {
    const c = limited.as({ ...apiKey(['tasks:enqueue']), id: 'rate-limited-batch-key' });
    const batch = (n: number) =>
      c.post('mutation ($inputs: [EnqueueTaskInput!]!) { enqueueTasks(inputs: $inputs) { tasks { id } } }', { inputs: Array.from({ length: n }, () => ({ name: 'demo.echo' })) });
    const before = await app.countTasks();
    const refused = await batch(3);
    expect(refused.errors?.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    expect(await app.countTasks()).toBe(before);
    expect((await batch(2)).errors).toBeUndefined();
    expect(await app.countTasks()).toBe(before + 2);
  });
});
