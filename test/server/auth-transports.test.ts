import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createApiKey, parseApiKey, revokeApiKey, type CreatedApiKey } from '../../src/auth/api-keys.js';
import { ANONYMOUS, type Principal } from '../../src/auth/principal.js';
import { resultScopeOf } from '../../src/server/context.js';
import { startTestServer, useTestServer, type TestServer } from '../helpers/app.js';
import { AUTH_ENV, createTestKey, refusedCredentials, signTestJwt, withWrongSecret } from '../helpers/auth-credentials.js';
import { bearer, createAuthTransports, type AuthTransports } from '../helpers/auth-transports.js';
import { errorCodes } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

// Authentication on every transport (DESIGN Part 2 §B; docs/auth.md#transports): HTTP
// `Authorization: Bearer`, graphql-ws `connectionParams.authorization` at connect (refused:
// 4403), SSE as HTTP; credentials that expire or are revoked end open subscriptions; the
// subscription cap; failed attempts throttled per address; logs never carry a secret.
const ENQUEUE = 'mutation($name: String!) { enqueueTask(input: { name: $name, args: ["auth"] }) { task { id tenant createdBy } } }';
const RESULT = 'query($id: ID!) { taskResult(id: $id) { id status } }';
const WATCH = 'subscription($id: ID!) { taskStatusChanged(id: $id) { id status version } }';

const logged: string[] = [];
const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(line) });
const env = useTestServer({
  env: { ...AUTH_ENV, MAX_SUBSCRIPTIONS_PER_PRINCIPAL: '3' },
  // Many refusals from one address here: the throttle has its own server below.
  app: { auth: { recheckMs: 200, failedAuth: { maxFailures: 10_000, windowMs: 60_000 } } },
  log,
});
const made: AuthTransports[] = [];
afterAll(async () => {
  await Promise.all(made.map((t) => t.closeAll()));
});
const transports = (server: TestServer = env.server): AuthTransports => {
  const t = createAuthTransports(server.url);
  made.push(t);
  return t;
};

const key = (tenant: string, scopes?: string[]): Promise<CreatedApiKey> => createTestKey(env.server.sql, tenant, scopes);
const jwt = signTestJwt;

async function pendingTask(credential: string): Promise<string> {
  const res = await transports().post(ENQUEUE, { name: 'demo.echo' }, bearer(credential));
  expect(res.errors).toBeUndefined();
  return (res.data?.enqueueTask as { task: { id: string } }).task.id;
}

describe('refused credentials', () => {
  it('over HTTP: 401 UNAUTHENTICATED, no stack, nothing stored', async () => {
    const before = await env.server.countTasks();
    for (const [name, headers] of await refusedCredentials(env.server.sql)) {
      const res = await transports().post(ENQUEUE, { name: 'demo.echo' }, headers);
      expect(res.status, name).toBe(401);
      expect(res.headers.get('www-authenticate'), name).toBe('Bearer');
      expect(res.errors?.map((e) => e.extensions?.code), name).toEqual(['UNAUTHENTICATED']);
      expect(res.data, name).toBeUndefined();
      expect(res.text, name).not.toMatch(/\bat .*\.[jt]s:\d+|stack/i);
    }
    expect(await env.server.countTasks()).toBe(before);
  });

  it('over SSE: UNAUTHENTICATED and the stream ends, no event of the task', async () => {
    const id = await pendingTask((await key('acme')).key);
    for (const [name, headers] of await refusedCredentials(env.server.sql)) {
      const stream = await transports().sse(WATCH, { id }, headers);
      expect(stream.status, name).toBe(401);
      expect(await stream.ended, name).toMatch(/complete|closed/);
      expect(stream.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code), name).toEqual(['UNAUTHENTICATED']);
      expect(stream.results.some((r) => r.data), name).toBe(false);
    }
  });

  it('over graphql-ws: the connection is closed with 4403 at connection_init', async () => {
    for (const [name, headers] of await refusedCredentials(env.server.sql)) {
      const conn = transports().ws(headers.authorization === undefined ? undefined : { authorization: headers.authorization });
      expect((await conn.closed).code, name).toBe(4403);
    }
  });
});

describe('accepted credentials', () => {
  it('an API key and a JWT work on HTTP; enqueues carry the tenant and the creator', async () => {
    const k = await key('acme');
    const byKey = await transports().post(ENQUEUE, { name: 'demo.echo' }, bearer(k.key));
    expect(byKey.data?.enqueueTask).toMatchObject({ task: { tenant: 'acme', createdBy: k.id } });
    const byJwt = await transports().post(ENQUEUE, { name: 'demo.echo' }, bearer(await jwt({ sub: 'user-7', tenant: 'acme' })));
    expect(byJwt.data?.enqueueTask).toMatchObject({ task: { tenant: 'acme', createdBy: 'user-7' } });
  });

  it('viewer names an API key by the name it was made with (null without one, and for a JWT)', async () => {
    const named = await createApiKey(env.server.sql, { tenant: 'acme', scopes: ['tasks:read'], name: 'nightly-reports' });
    const viewer = async (credential: string) => (await transports().post('{ viewer { id name kind } }', {}, bearer(credential))).data?.viewer;
    expect(await viewer(named.key)).toEqual({ id: named.id, name: 'nightly-reports', kind: 'API_KEY' });
    const unnamed = await key('acme');
    expect(await viewer(unnamed.key)).toEqual({ id: unnamed.id, name: null, kind: 'API_KEY' });
    expect(await viewer(await jwt({ sub: 'user-7', tenant: 'acme' }))).toEqual({ id: 'user-7', name: null, kind: 'JWT' });
  });

  it("another tenant's task reads as one that does not exist, on HTTP, SSE and graphql-ws", async () => {
    const id = await pendingTask((await key('acme')).key);
    const other = (await key('globex')).key;
    const t = transports();
    expect((await t.post(RESULT, { id }, bearer(other))).data).toEqual({ taskResult: null });
    const sse = await t.sse(WATCH, { id }, bearer(other));
    await sse.ended;
    expect(sse.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    const sub = t.ws({ authorization: `Bearer ${other}` }).subscribe(WATCH, { id });
    await sub.ended;
    expect(sub.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
  });

  it('a graphql-ws connection serves every subscribe with its principal', async () => {
    const k = (await key('acme')).key;
    const id = await pendingTask(k);
    const conn = transports().ws({ authorization: `Bearer ${k}` });
    const a = conn.subscribe(WATCH, { id });
    const b = conn.subscribe(WATCH, { id });
    await waitFor(() => a.results.length > 0 && b.results.length > 0, { message: 'both subscriptions to deliver' });
    expect(a.results[0]?.data).toMatchObject({ taskStatusChanged: { id, status: 'PENDING' } });
    a.unsubscribe();
    b.unsubscribe();
  });
});

describe('read tokens, end to end', () => {
  it("enqueueTask's readToken reads and watches its task on every transport; another task is unknown; it cannot enqueue", async () => {
    const k = (await key('acme')).key;
    const t = transports();
    const made = await t.post('mutation { enqueueTask(input: { name: "demo.echo", args: ["rt"] }) { task { id } readToken } }', undefined, bearer(k));
    const { task, readToken } = made.data?.enqueueTask as { task: { id: string }; readToken: string };
    expect(readToken).toEqual(expect.any(String));
    const other = await pendingTask(k);
    expect((await t.post(RESULT, { id: task.id }, bearer(readToken))).data).toEqual({ taskResult: { id: task.id, status: 'PENDING' } });
    expect((await t.post(RESULT, { id: other }, bearer(readToken))).data).toEqual({ taskResult: null });
    const sse = await t.sse(WATCH, { id: task.id }, bearer(readToken));
    await waitFor(() => sse.results.length > 0, { message: 'the read token to watch its task over SSE' });
    sse.abort();
    const conn = t.ws({ authorization: `Bearer ${readToken}` });
    const own = conn.subscribe(WATCH, { id: task.id });
    const foreign = conn.subscribe(WATCH, { id: other });
    await waitFor(() => own.results.length > 0, { message: 'the read token to watch its task over graphql-ws' });
    await foreign.ended;
    expect(foreign.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    const before = await env.server.countTasks();
    const enqueue = await t.post(ENQUEUE, { name: 'demo.echo' }, bearer(readToken));
    expect(enqueue.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(await env.server.countTasks()).toBe(before);
    own.unsubscribe();
  });
});

describe('credentials that end while a subscription is open', () => {
  it('a JWT that expires closes its graphql-ws socket with 4403 at expiry; its SSE stream ends with UNAUTHENTICATED', async () => {
    const id = await pendingTask((await key('acme')).key);
    const token = await jwt({ expiresIn: 3 });
    const expiresAt = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).exp * 1000;
    const t = transports();
    const conn = t.ws({ authorization: `Bearer ${token}` });
    const sub = conn.subscribe(WATCH, { id });
    const sse = await t.sse(WATCH, { id }, bearer(token));
    await waitFor(() => sub.results.length > 0 && sse.results.length > 0, { message: 'both to deliver the current state' });
    const closed = await conn.closed;
    expect(closed.code).toBe(4403);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 50);
    expect(Date.now()).toBeLessThan(expiresAt + 2000);
    expect(await sse.ended).toBe('complete');
    expect(sse.results.at(-1)?.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });

  it('a revoked API key ends its open subscriptions within seconds (ws: 4403; SSE: UNAUTHENTICATED) and its next request at once', async () => {
    const k = await key('acme');
    const id = await pendingTask(k.key);
    const t = transports();
    const conn = t.ws({ authorization: `Bearer ${k.key}` });
    const sub = conn.subscribe(WATCH, { id });
    const sse = await t.sse(WATCH, { id }, bearer(k.key));
    await waitFor(() => sub.results.length > 0 && sse.results.length > 0, { message: 'both to deliver the current state' });
    const revokedAt = Date.now();
    await revokeApiKey(env.server.sql, k.id);
    expect((await t.post(RESULT, { id }, bearer(k.key))).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await conn.closed).code).toBe(4403);
    expect(await sse.ended).toBe('complete');
    expect(sse.results.at(-1)?.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    // recheckMs is 200 here (2,000 by default): well within seconds either way.
    expect(Date.now() - revokedAt).toBeLessThan(3000);
  });
});

describe('per principal', () => {
  it('open subscriptions are capped (MAX_SUBSCRIPTIONS_PER_PRINCIPAL=3) across transports: the next is RATE_LIMITED until one ends', async () => {
    const k = (await key('acme')).key;
    const id = await pendingTask(k);
    const t = transports();
    const conn = t.ws({ authorization: `Bearer ${k}` });
    const subs = [conn.subscribe(WATCH, { id }), conn.subscribe(WATCH, { id })];
    const sse = await t.sse(WATCH, { id }, bearer(k));
    await waitFor(() => subs.every((s) => s.results.length > 0) && sse.results.length > 0, { message: 'three subscriptions open' });
    const over = conn.subscribe(WATCH, { id });
    await over.ended;
    expect(over.errors.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    expect(over.errors[0]?.extensions?.retryAfterMs).toBeGreaterThan(0);
    const overSse = await t.sse(WATCH, { id }, bearer(k));
    await overSse.ended;
    expect(overSse.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    // Another principal is not affected.
    const other = t.ws({ authorization: `Bearer ${(await key('acme')).key}` }).subscribe(WATCH, { id });
    await waitFor(() => other.results.length > 0, { message: "another key's subscription" });
    sse.abort();
    const again = await waitFor(
      async () => {
        const s = conn.subscribe(WATCH, { id });
        const outcome = await Promise.race([s.ended, waitFor(() => s.results.length > 0 && s.errors.length === 0, { timeoutMs: 2000 }).then(() => 'open')]);
        return outcome === 'open' ? s : (s.unsubscribe(), false);
      },
      { timeoutMs: 5000, message: 'a slot to free once the SSE stream ended' },
    );
    expect(again.results[0]?.data).toMatchObject({ taskStatusChanged: { id } });
  });

  it('the logs name the principal (id, kind) and never carry a secret', async () => {
    const k = await key('acme');
    const token = await jwt({ sub: 'user-logged' });
    logged.length = 0;
    await transports().post(RESULT, { id: '00000000-0000-7000-8000-000000000000' }, bearer(withWrongSecret(k.key)));
    await transports().post(RESULT, { id: '00000000-0000-7000-8000-000000000000' }, bearer(k.key));
    await transports().post(RESULT, { id: '00000000-0000-7000-8000-000000000000' }, bearer(token));
    // The secret is base64url, `_` among its characters: taken apart by the key's own parser, never by
    // splitting on `_` (a secret starting with `_` would make the secret looked for '').
    const secret = parseApiKey(k.key)?.secret as string;
    expect(secret).toHaveLength(43);
    const text = logged.join('');
    expect(text).toContain(k.id);
    expect(text).toContain('"kind":"api-key"');
    expect(text).toContain('user-logged');
    expect(text).toContain('authentication refused');
    expect(text).not.toContain(secret);
    expect(text).not.toContain(secret.slice(0, 20));
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.split('.')[2] as string);
  });
});

describe('failed authentications per address', () => {
  it('past the limit, even a good key is RATE_LIMITED (retryAfterMs; HTTP 429, ws 4429); missing credentials do not count', async () => {
    const server = await startTestServer({ env: { AUTH_MODE: 'on' }, app: { auth: { failedAuth: { maxFailures: 3, windowMs: 60_000 } } } });
    try {
      const good = (await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read'] })).key;
      const t = transports(server);
      for (let i = 0; i < 5; i += 1) expect((await t.post('{ __typename }')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      for (let i = 0; i < 3; i += 1) expect((await t.post('{ __typename }', undefined, bearer(`tw_guess${i}`))).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const limited = await t.post('{ __typename }', undefined, bearer(good));
      expect(limited.status).toBe(429);
      expect(limited.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(limited.errors?.[0]?.extensions?.retryAfterMs).toBeGreaterThan(50_000);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(50);
      // SSE is refused as HTTP is: the status and Retry-After, the error as the stream's one event.
      const sse = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${good}` },
        body: JSON.stringify({ query: WATCH, variables: { id: '0190a5f0-0000-7000-8000-000000000000' } }),
      });
      expect(sse.status).toBe(429);
      expect(Number(sse.headers.get('retry-after'))).toBeGreaterThan(50);
      expect(await sse.text()).toMatch(/event: next\ndata: .*"RATE_LIMITED"/);
      expect((await t.ws({ authorization: `Bearer ${good}` }).closed).code).toBe(4429);
    } finally {
      await server.close();
    }
  });
});

describe('failed authentications behind a reverse proxy (TRUSTED_PROXIES)', () => {
  /** A client's transports as a proxy on this host forwards them: its X-Forwarded-For names the client. */
  const via = (server: TestServer, forwardedFor: string): AuthTransports => {
    const t = createAuthTransports(server.url, { headers: { 'x-forwarded-for': forwardedFor } });
    made.push(t);
    return t;
  };

  it('counts each client the proxy names: one client guessing keys does not lock out another', async () => {
    const server = await startTestServer({ env: { AUTH_MODE: 'on', TRUSTED_PROXIES: '127.0.0.1,::1' }, app: { auth: { failedAuth: { maxFailures: 3, windowMs: 60_000 } } } });
    try {
      const good = (await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read'] })).key;
      const guesser = via(server, '203.0.113.1');
      for (let i = 0; i < 3; i += 1) expect(errorCodes((await guesser.post('{ __typename }', undefined, bearer(`tw_guess${i}`))).errors)).toEqual(['UNAUTHENTICATED']);
      expect((await guesser.post('{ __typename }', undefined, bearer(good))).status).toBe(429);
      // Made-up addresses left of what the proxy appended are not believed.
      expect((await via(server, '198.51.100.7, 203.0.113.1').post('{ __typename }', undefined, bearer(good))).status).toBe(429);
      expect((await guesser.ws({ authorization: `Bearer ${good}` }).closed).code).toBe(4429);
      // Another client behind the same proxy: served, over HTTP and graphql-ws.
      const other = via(server, '203.0.113.2');
      expect(await other.post('{ __typename }', undefined, bearer(good))).toMatchObject({ status: 200, data: { __typename: 'Query' } });
      const query = other.ws({ authorization: `Bearer ${good}` }).subscribe('{ __typename }');
      expect(await query.ended).toBe('complete');
      expect(query.results).toEqual([{ data: { __typename: 'Query' } }]);
    } finally {
      await server.close();
    }
  });

  it('with TRUSTED_PROXY_HEADER=forwarded, counts each client Forwarded names, and believes no X-Forwarded-For', async () => {
    const server = await startTestServer({
      env: { AUTH_MODE: 'on', TRUSTED_PROXIES: '127.0.0.1,::1', TRUSTED_PROXY_HEADER: 'forwarded' },
      app: { auth: { failedAuth: { maxFailures: 3, windowMs: 60_000 } } },
    });
    try {
      const good = (await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read'] })).key;
      const from = (forwarded: string, forwardedFor: string): AuthTransports => {
        const t = createAuthTransports(server.url, { headers: { forwarded, 'x-forwarded-for': forwardedFor } });
        made.push(t);
        return t;
      };
      // The guesser rotates X-Forwarded-For; its proxy's Forwarded names it each time.
      for (let i = 0; i < 3; i += 1) {
        const guess = await from('for="203.0.113.1:5000";proto=http', `198.51.100.${i}`).post('{ __typename }', undefined, bearer(`tw_guess${i}`));
        expect(errorCodes(guess.errors)).toEqual(['UNAUTHENTICATED']);
      }
      expect((await from('for=203.0.113.1', '198.51.100.50').post('{ __typename }', undefined, bearer(good))).status).toBe(429);
      expect((await from('for=203.0.113.1', '198.51.100.51').ws({ authorization: `Bearer ${good}` }).closed).code).toBe(4429);
      // Another client behind the same proxy: served.
      expect(await from('for="[2001:db8::2]:6000"', '203.0.113.1').post('{ __typename }', undefined, bearer(good))).toMatchObject({ status: 200, data: { __typename: 'Query' } });
    } finally {
      await server.close();
    }
  });

  it('believes no X-Forwarded-For by default: rotating it does not dodge the throttle', async () => {
    const server = await startTestServer({ env: { AUTH_MODE: 'on' }, app: { auth: { failedAuth: { maxFailures: 3, windowMs: 60_000 } } } });
    try {
      const good = (await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read'] })).key;
      for (let i = 0; i < 3; i += 1) {
        expect(errorCodes((await via(server, `203.0.113.${i + 10}`).post('{ __typename }', undefined, bearer(`tw_guess${i}`))).errors)).toEqual(['UNAUTHENTICATED']);
      }
      expect((await via(server, '203.0.113.99').post('{ __typename }', undefined, bearer(good))).status).toBe(429);
    } finally {
      await server.close();
    }
  });
});

describe('resultScopeOf', () => {
  const p = (o: Partial<Principal>): Principal => ({ kind: 'api-key', id: 'k', tenant: 'acme', scopes: ['tasks:read'], ...o });
  it('keeps results apart between tenants, scopes and read tokens; auth off keeps the one scope of before', () => {
    expect(resultScopeOf(ANONYMOUS)).toBe('');
    const scopes = [
      p({}),
      p({ tenant: 'globex' }),
      p({ scopes: ['tasks:read', 'tasks:cancel'] }),
      p({ scopes: ['admin'] }),
      p({ kind: 'read-token', taskIds: ['a'] }),
      p({ kind: 'read-token', taskIds: ['b'] }),
    ].map(resultScopeOf);
    expect(new Set(scopes).size).toBe(scopes.length);
    expect(resultScopeOf(p({ id: 'another key' }))).toBe(resultScopeOf(p({})));
    expect(resultScopeOf(p({ scopes: ['admin'], tenant: 'x' }))).toBe(resultScopeOf(p({ scopes: ['admin'], tenant: 'y' })));
  });
});
