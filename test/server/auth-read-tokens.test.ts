import { beforeAll, describe, expect, it } from 'vitest';
import { revokeApiKey } from '../../src/auth/api-keys.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { useTestServer } from '../helpers/app.js';
import { AUTH_ENV, createTestKey } from '../helpers/auth-credentials.js';
import { bearer, createAuthTransports, type AuthTransports, type HttpAnswer } from '../helpers/auth-transports.js';
import { errorCodes } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

// Read tokens through the real server (issue #12 §6; docs/auth.md#read-tokens): enqueueTask's
// readToken reads and subscribes to its task over HTTP, graphql-ws and SSE; for any other task
// (same tenant or not) it answers as for an unknown id; it cannot enqueue, cancel or list; once
// expired, or once the API key that made it is revoked, it is UNAUTHENTICATED.
const env = useTestServer({ env: { ...AUTH_ENV }, app: { auth: { recheckMs: 200, failedAuth: { maxFailures: 1_000_000, windowMs: 60_000 } } } });
let t: AuthTransports;
let acmeKey: string;
/** Enqueued by acme's key: `mine` with its readToken; `sibling` another acme task; `theirs` globex's. */
let mine: string;
let token: string;
let sibling: string;
let theirs: string;

const ENQUEUE = 'mutation($name: String!) { enqueueTask(input: { name: $name, args: ["rt"] }) { readToken task { id } } }';
const RESULT = 'query($id: ID!) { taskResult(id: $id) { id tenant status args events { edges { node { type } } } } }';
const NODE = 'query($id: ID!) { node(id: $id) { id ... on Task { status } } }';
const WATCH = 'subscription($id: ID!) { taskStatusChanged(id: $id) { id status version } }';
const EVENTS = 'subscription($id: ID!) { taskEvents(id: $id) { taskId version type } }';
const MINT = 'mutation($ids: [ID!]!, $ttl: Int) { createReadToken(taskIds: $ids, ttlSeconds: $ttl) { token expiresAt } }';
const masked = (value: unknown, id: string): string => JSON.stringify(value).replace(new RegExp(id, 'gi'), '<id>');

async function enqueue(key: string): Promise<{ id: string; readToken: string }> {
  const res = await t.post(ENQUEUE, { name: 'demo.echo' }, bearer(key));
  const payload = res.data?.enqueueTask as { readToken: string; task: { id: string } } | undefined;
  if (!payload?.readToken) throw new Error(`enqueueTask: ${res.text}`);
  return { id: payload.task.id, readToken: payload.readToken };
}

beforeAll(async () => {
  t = createAuthTransports(env.server.url);
  acmeKey = (await createTestKey(env.server.sql, 'acme', ['tasks:read', 'tasks:enqueue', 'tasks:cancel', 'tasks:retry'])).key;
  ({ id: mine, readToken: token } = await enqueue(acmeKey));
  sibling = (await enqueue(acmeKey)).id;
  theirs = (await enqueue((await createTestKey(env.server.sql, 'globex')).key)).id;
  return () => t.closeAll();
});

describe("enqueueTask's readToken", () => {
  it('reads its task over HTTP (taskResult, node, Task.events, viewer)', async () => {
    const result = await t.post(RESULT, { id: mine }, bearer(token));
    expect(result.data?.taskResult).toMatchObject({ id: mine, tenant: 'acme', status: 'PENDING', events: { edges: [{ node: { type: 'ENQUEUED' } }] } });
    expect((await t.post(NODE, { id: mine.toUpperCase() }, bearer(token))).data?.node).toMatchObject({ id: mine });
    const viewer = await t.post('{ viewer { kind tenant scopes taskIds } }', {}, bearer(token));
    expect(viewer.data?.viewer).toEqual({ kind: 'READ_TOKEN', tenant: 'acme', scopes: ['tasks:read'], taskIds: [mine] });
    console.log('[hostile] read token reads its own task over HTTP (taskResult, node with the id in upper case, Task.events, viewer): answered');
  });

  it('subscribes to its task over graphql-ws and SSE until it ends', async () => {
    const task = await enqueue(acmeKey);
    const ws = t.ws({ authorization: `Bearer ${task.readToken}` });
    const status = ws.subscribe(WATCH, { id: task.id });
    const events = ws.subscribe(EVENTS, { id: task.id });
    const sse = await t.sse(WATCH, { id: task.id }, bearer(task.readToken));
    await waitFor(() => status.results.length > 0 && events.results.length > 0 && sse.results.length > 0, { message: 'the current state on every stream' });
    expect((await t.post('mutation($id: ID!) { cancelTask(id: $id) { status } }', { id: task.id }, bearer(acmeKey))).errors).toBeUndefined();
    expect([await status.ended, await events.ended, await sse.ended]).toEqual(['complete', 'complete', 'complete']);
    const statuses = (rs: { data?: Record<string, unknown> | null }[]): unknown[] => rs.map((r) => (r.data?.taskStatusChanged as { status: string }).status);
    expect(statuses(status.results)).toEqual(['PENDING', 'CANCELLED']);
    expect(statuses(sse.results)).toEqual(['PENDING', 'CANCELLED']);
    expect(events.results.map((r) => (r.data?.taskEvents as { type: string }).type)).toEqual(['ENQUEUED', 'CANCELLED']);
    console.log('[hostile] read token subscribes to its own task (graphql-ws taskStatusChanged + taskEvents, SSE taskStatusChanged): PENDING then CANCELLED, completed');
  });
});

describe('a read token used for another task', () => {
  it("answers for a task of its own tenant and for another tenant's exactly as for an unknown id, on every transport", async () => {
    const unknown = uuidv7();
    const answers = async (id: string): Promise<Record<string, string>> => {
      const ws = t.ws({ authorization: `Bearer ${token}` });
      const wsWatch = ws.subscribe(WATCH, { id });
      const wsEvents = ws.subscribe(EVENTS, { id });
      const sse = await t.sse(EVENTS, { id }, bearer(token));
      const ends = [await wsWatch.ended, await wsEvents.ended, await sse.ended];
      return {
        taskResult: masked(await t.post(RESULT, { id }, bearer(token)).then(body), id),
        node: masked(await t.post(NODE, { id }, bearer(token)).then(body), id),
        createReadToken: masked(await t.post(MINT, { ids: [id] }, bearer(token)).then(body), id),
        'ws taskStatusChanged': masked([wsWatch.results, wsWatch.errors, ends[0]], id),
        'ws taskEvents': masked([wsEvents.results, wsEvents.errors, ends[1]], id),
        'sse taskEvents': masked([sse.status, sse.results, ends[2]], id),
      };
    };
    const asUnknown = await answers(unknown);
    expect(asUnknown.taskResult).toBe(JSON.stringify({ status: 200, data: { taskResult: null } }));
    expect(asUnknown['ws taskEvents']).toContain('NOT_FOUND');
    for (const [label, id] of [['its own tenant', sibling], ['another tenant', theirs]] as const) {
      const got = await answers(id);
      expect(got, label).toEqual(asUnknown);
      console.log(`[hostile] read token for a task of ${label} (taskResult, node, createReadToken, ws taskStatusChanged/taskEvents, SSE taskEvents): same as an unknown id (${Object.values(got).map((v) => (v.includes('NOT_FOUND') ? 'NOT_FOUND' : 'null')).join(', ')})`);
    }
  });
});

const body = (res: HttpAnswer): unknown => ({ status: res.status, data: res.data, errors: res.errors });

describe('a read token used for anything but reading its tasks', () => {
  it('is FORBIDDEN to enqueue, cancel, retry, list, count or watch every task, and nothing changes', async () => {
    const tasksBefore = await env.server.countTasks();
    const forbidden: [string, string, Record<string, unknown>][] = [
      ['enqueueTask', ENQUEUE, { name: 'demo.echo' }],
      ['cancelTask of its own task', 'mutation($id: ID!) { cancelTask(id: $id) { id } }', { id: mine }],
      ['retryTask of its own task', 'mutation($id: ID!) { retryTask(id: $id) { id } }', { id: mine }],
      ['tasks', '{ tasks { edges { node { id } } } }', {}],
      ['tasks totalCount', '{ tasks { totalCount } }', {}],
      ['queueStats', '{ queueStats { queue total } }', {}],
    ];
    for (const [label, query, variables] of forbidden) {
      const res = await t.post(query, variables, bearer(token));
      expect(errorCodes(res.errors), label).toEqual(['FORBIDDEN']);
      expect(JSON.stringify(res.data ?? null), label).not.toContain(sibling);
    }
    const ws = t.ws({ authorization: `Bearer ${token}` });
    const subscriptions: [string, string][] = [
      ['taskStatusChanged without id', 'subscription { taskStatusChanged { id } }'],
      ['taskEventFeed', 'subscription { taskEventFeed { taskId } }'],
    ];
    for (const [label, query] of subscriptions) {
      const sub = ws.subscribe(query);
      await sub.ended;
      expect(errorCodes(sub.errors), label).toEqual(['FORBIDDEN']);
      expect(sub.results.some((r) => r.data), label).toBe(false);
      const sse = await t.sse(query, {}, bearer(token));
      await sse.ended;
      expect(errorCodes(sse.results.flatMap((r) => r.errors ?? [])), `${label} over SSE`).toEqual(['FORBIDDEN']);
    }
    expect(await env.server.countTasks()).toBe(tasksBefore);
    expect((await t.post(RESULT, { id: mine }, bearer(acmeKey))).data?.taskResult).toMatchObject({ status: 'PENDING' });
    console.log(`[hostile] read token used for ${[...forbidden, ...subscriptions].map((f) => f[0]).join(', ')} (HTTP; subscriptions over graphql-ws and SSE): FORBIDDEN, no task stored or changed`);
  });
});

describe('a read token that ended', () => {
  it('after its expiry (ttlSeconds 2) is UNAUTHENTICATED on HTTP, SSE and graphql-ws (4403), and its open socket is closed', async () => {
    // 2 s, rounded down to a whole second: at least 1 s of use.
    const minted = await t.post(MINT, { ids: [mine], ttl: 2 }, bearer(acmeKey));
    const short = (minted.data?.createReadToken as { token: string; expiresAt: string }).token;
    expect((await t.post(RESULT, { id: mine }, bearer(short))).data?.taskResult).toMatchObject({ id: mine });
    const open = t.ws({ authorization: `Bearer ${short}` });
    const refused = await waitFor(
      async () => {
        const res = await t.post(RESULT, { id: mine }, bearer(short));
        return errorCodes(res.errors)[0] === 'UNAUTHENTICATED' ? res : false;
      },
      { timeoutMs: 5000, intervalMs: 100, message: 'the read token to expire' },
    );
    expect(refused.status).toBe(401);
    expect(refused.text).not.toMatch(/\bat .*\.[jt]s:\d+|stack/i);
    const sse = await t.sse(WATCH, { id: mine }, bearer(short));
    await sse.ended;
    expect(errorCodes(sse.results.flatMap((r) => r.errors ?? []))).toEqual(['UNAUTHENTICATED']);
    expect((await t.ws({ authorization: `Bearer ${short}` }).closed).code).toBe(4403);
    expect((await open.closed).code).toBe(4403);
    console.log('[hostile] read token after its expiry (ttlSeconds 2): HTTP 401 UNAUTHENTICATED, SSE UNAUTHENTICATED, graphql-ws 4403 at connect, its open socket closed 4403');
  });

  it('once the API key that made it is revoked, is UNAUTHENTICATED and its subscription ends', async () => {
    const key = await createTestKey(env.server.sql, 'acme');
    const task = await enqueue(key.key);
    const ws = t.ws({ authorization: `Bearer ${task.readToken}` });
    const watch = ws.subscribe(WATCH, { id: task.id });
    await waitFor(() => watch.results.length > 0, { message: 'the subscription to deliver' });
    await revokeApiKey(env.server.sql, key.id);
    expect(errorCodes((await t.post(RESULT, { id: task.id }, bearer(task.readToken))).errors)).toEqual(['UNAUTHENTICATED']);
    expect((await ws.closed).code).toBe(4403);
    console.log("[hostile] read token whose API key was revoked: HTTP UNAUTHENTICATED at once, its graphql-ws subscription closed 4403");
  });
});
