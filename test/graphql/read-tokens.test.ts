import type { GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import {
  CreateReadTokenDocument,
  EnqueueWithReadTokenDocument,
  TaskChangesDocument,
  TaskEventFeedDocument,
  TaskEventsDocument,
  TaskVersionDocument,
  ViewerDocument,
} from '../generated/graphql.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { startGuardedServer, type GuardedClient, type GuardedServer } from '../helpers/guarded-server.js';
import type { Stream } from '../helpers/subscriptions.js';
import { waitFor } from '../helpers/wait.js';

let app: TestApp;
let server: GuardedServer;
let owner: GuardedClient;
/** A task the token covers (CANCELLED: its subscriptions replay and end), another task, an id of none. */
let mine: string;
let other: string;
const UNKNOWN = '0190a5f0-0000-7000-8000-000000000000';
let token: string;
let reader: GuardedClient;

const ownerKey: Principal = { kind: 'api-key', id: 'owner-key', tenant: 'default', scopes: ['tasks:read', 'tasks:enqueue'] };

beforeAll(async () => {
  app = await createTestApp();
  server = await startGuardedServer(app);
  owner = server.as(ownerKey);
  const res = await owner.execute(EnqueueWithReadTokenDocument, { input: { name: 'demo.echo' } });
  mine = res.data!.enqueueTask.task.id;
  token = res.data!.enqueueTask.readToken!;
  await app.deps.queue.cancelTask(mine);
  other = (await app.deps.queue.enqueue({ name: 'demo.echo' })).id;
  reader = server.withToken(token);
});
afterAll(async () => {
  await server?.close();
  await app?.close();
});

/** A response with every occurrence of `id` replaced, to compare answers about different ids. */
const about = (response: unknown, id: string): string => JSON.stringify(response).replaceAll(id, '<id>');
const codeAndField = (errors: readonly GraphQLFormattedError[] | undefined) => errors?.map((e) => [e.extensions?.code, e.extensions?.field]);

/** What a subscription sent until it ended (one that does not end within 10 s fails the test). */
async function settled<R>(stream: Stream<R>): Promise<{ values: R[]; errors: GraphQLFormattedError[] }> {
  let ended = false;
  void stream.done.finally(() => (ended = true));
  await waitFor(() => ended, { message: 'the subscription to end' });
  await stream.done;
  return { values: stream.values, errors: stream.errors };
}

describe('enqueueTask readToken', () => {
  it('is a read token for the new task alone, in its tenant, issued by the enqueuer', () => {
    expect(token).toEqual(expect.any(String));
    expect(server.readTokenPrincipal(token)).toMatchObject({ kind: 'read-token', id: 'owner-key', tenant: 'default', taskIds: [mine] });
  });

  it('is null while auth is off (no read-token issuer), and createReadToken is FORBIDDEN then', async () => {
    const off = await startGuardedServer(app, { readTokens: false });
    try {
      const c = off.as({ kind: 'anonymous', id: 'anonymous', tenant: 'default', scopes: ['admin'] });
      const res = await c.execute(EnqueueWithReadTokenDocument, { input: { name: 'demo.echo' } });
      expect(res.errors).toBeUndefined();
      expect(res.data!.enqueueTask.readToken).toBeNull();
      expect(codeAndField((await c.execute(CreateReadTokenDocument, { taskIds: [mine] })).errors)).toEqual([['FORBIDDEN', undefined]]);
    } finally {
      await off.close();
    }
  });
});

describe('a read token', () => {
  it('reads its task: taskResult, node, the task’s event log, viewer', async () => {
    const res = await reader.post(
      'query ($id: ID!) { taskResult(id: $id) { id status events { edges { node { type } } } } node(id: $id) { id } viewer { kind taskIds } }',
      { id: mine },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({
      taskResult: { id: mine, status: 'CANCELLED', events: { edges: [{ node: { type: 'ENQUEUED' } }, { node: { type: 'CANCELLED' } }] } },
      node: { id: mine },
      viewer: { kind: 'READ_TOKEN', taskIds: [mine] },
    });
  });

  it('gets for another task exactly what it gets for an id that does not exist (null)', async () => {
    const query = 'query ($id: ID!) { taskResult(id: $id) { id } node(id: $id) { id } }';
    const foreign = await reader.post(query, { id: other });
    const unknown = await reader.post(query, { id: UNKNOWN });
    expect(foreign.data).toEqual({ taskResult: null, node: null });
    expect(about(foreign, other)).toBe(about(unknown, UNKNOWN));
    // The task is there: an API key of the tenant reads it.
    expect((await owner.post(query, { id: other })).data).toEqual({ taskResult: { id: other }, node: { id: other } });
  });

  it('subscribes to its task (taskStatusChanged with id, taskEvents) and runs to the end', async () => {
    const changes = await settled(reader.subscribeSse(TaskVersionDocument, { id: mine }));
    expect(changes.errors).toEqual([]);
    expect(changes.values.at(-1)?.taskStatusChanged).toMatchObject({ id: mine, status: 'CANCELLED' });
    const events = await settled(reader.subscribeSse(TaskEventsDocument, { id: mine, afterVersion: 0 }));
    expect(events.errors).toEqual([]);
    expect(events.values.map((v) => v.taskEvents.type)).toEqual(['ENQUEUED', 'CANCELLED']);
  });

  it.each([
    ['taskStatusChanged', (id: string): Stream<unknown> => reader.subscribeSse(TaskVersionDocument, { id })],
    ['taskEvents', (id: string): Stream<unknown> => reader.subscribeSse(TaskEventsDocument, { id, afterVersion: 0 })],
  ])('subscribing with %s to another task gets exactly what an unknown id gets (NOT_FOUND)', async (_name, subscribe) => {
    const foreign = await settled(subscribe(other));
    const unknown = await settled(subscribe(UNKNOWN));
    expect(codeAndField(foreign.errors)).toEqual([['NOT_FOUND', 'id']]);
    expect(about(foreign, other)).toBe(about(unknown, UNKNOWN));
  });

  it('may use nothing else: lists, stats, feeds, a filter subscription, mutations are FORBIDDEN', async () => {
    for (const query of [
      '{ tasks { totalCount } }',
      '{ queueStats { queue } }',
      'mutation { enqueueTask(input: { name: "demo.echo" }) { task { id } } }',
      `mutation { cancelTask(id: "${mine}") { id } }`,
      `mutation { retryTask(id: "${mine}") { id } }`,
      `mutation { createReadToken(taskIds: ["${mine}"]) { token } }`,
    ]) {
      expect({ query, codes: (await reader.post(query)).errors?.map((e) => e.extensions?.code) }).toEqual({ query, codes: ['FORBIDDEN'] });
    }
    const filtered = await settled(reader.subscribeSse(TaskChangesDocument, { filter: {} }));
    expect(codeAndField(filtered.errors)).toEqual([['FORBIDDEN', 'id']]);
    const feed = await settled(reader.subscribeSse(TaskEventFeedDocument, {}));
    expect(feed.errors.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('is limited to its tasks whatever scopes it carries', async () => {
    const strong = server.as({ kind: 'read-token', id: 'owner-key', tenant: 'default', scopes: ['admin', 'tasks:read'], taskIds: [mine] });
    expect((await strong.post('{ tasks { totalCount } }')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await strong.post(`{ taskResult(id: "${other}") { id } }`)).data).toEqual({ taskResult: null });
    expect((await strong.post(`{ taskResult(id: "${mine.toUpperCase()}") { id } }`)).data).toEqual({ taskResult: { id: mine } });
  });
});

describe('createReadToken', () => {
  it('makes a token for several visible tasks, for ttlSeconds', async () => {
    const before = Date.now();
    const res = await owner.execute(CreateReadTokenDocument, { taskIds: [mine, other, mine], ttlSeconds: 60 });
    expect(res.errors).toBeUndefined();
    const made = res.data!.createReadToken;
    const expiresIn = new Date(made.expiresAt).getTime() - before;
    expect(expiresIn).toBeGreaterThan(50_000);
    expect(expiresIn).toBeLessThanOrEqual(61_000);
    expect(server.readTokenPrincipal(made.token)).toMatchObject({ kind: 'read-token', taskIds: [mine, other] });
    const both = server.withToken(made.token);
    const read = await both.post('query ($a: ID!, $b: ID!) { a: taskResult(id: $a) { id } b: taskResult(id: $b) { id } }', { a: mine, b: other });
    expect(read.data).toEqual({ a: { id: mine }, b: { id: other } });
  });

  // Variables as functions: the table is built before beforeAll has made the tasks.
  it.each([
    ['an id of no task', () => ({ taskIds: [mine, UNKNOWN] }), 'NOT_FOUND', 'taskIds[1]'],
    ['a malformed id', () => ({ taskIds: [mine, '42'] }), 'BAD_USER_INPUT', 'taskIds[1]'],
    ['no id', () => ({ taskIds: [] }), 'BAD_USER_INPUT', 'taskIds'],
    ['more than 100 ids', () => ({ taskIds: Array.from({ length: 101 }, () => mine) }), 'BAD_USER_INPUT', 'taskIds'],
    ['ttlSeconds 0', () => ({ taskIds: [mine], ttlSeconds: 0 }), 'BAD_USER_INPUT', 'ttlSeconds'],
    ['ttlSeconds over a day', () => ({ taskIds: [mine], ttlSeconds: 86_401 }), 'BAD_USER_INPUT', 'ttlSeconds'],
  ])('refuses %s, naming the field', async (_name, variables, code, field) => {
    const res = await owner.execute(CreateReadTokenDocument, variables());
    expect(codeAndField(res.errors)).toEqual([[code, field]]);
  });

  it('is FORBIDDEN without tasks:read', async () => {
    const enqueuer = server.as({ kind: 'api-key', id: 'enqueuer', tenant: 'default', scopes: ['tasks:enqueue'] });
    const res = await enqueuer.execute(CreateReadTokenDocument, { taskIds: [mine] });
    expect(res.errors?.map((e) => [e.extensions?.code, e.extensions?.details])).toEqual([['FORBIDDEN', { requiredScope: 'tasks:read' }]]);
  });

  it('viewer shows who is asking', async () => {
    const res = await owner.execute(ViewerDocument);
    expect(res.data).toEqual({ viewer: { id: 'owner-key', kind: 'API_KEY', tenant: 'default', scopes: ['tasks:read', 'tasks:enqueue'], taskIds: null, expiresAt: null } });
  });
});
