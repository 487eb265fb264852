import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/auth/api-keys.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { AUTH_ENV, signTestJwt } from '../helpers/auth-credentials.js';
import { bearer, createAuthTransports, type AuthTransports } from '../helpers/auth-transports.js';
import { errorCodes } from '../helpers/graphql.js';

// Expiries every server must agree on are judged by the database's clock, not each server's own
// wall clock: a clock-skew tester behind a load balancer had read tokens born expired on the other
// servers and an API key valid on one server and refused by the rest. Each server here is made and
// run with this process's Date faked `skewMs` off (timers, performance.now and the database keep the
// real time), as on a host whose clock is minutes off.
let server: TestServer | undefined;
let t: AuthTransports | undefined;
afterEach(async () => {
  await t?.closeAll();
  await server?.close();
  server = undefined;
  t = undefined;
  vi.useRealTimers();
});

async function skewedServer(skewMs: number): Promise<{ server: TestServer; t: AuthTransports }> {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() + skewMs });
  server = await startTestServer({ env: { ...AUTH_ENV, READ_TOKEN_SECRET: 'auth-clock-read-token-secret-0123456789abcdef' } });
  t = createAuthTransports(server.url);
  return { server, t };
}

/** The database's time now, in ms. */
async function databaseNow(s: TestServer): Promise<number> {
  const [row] = (await s.sql`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`) as unknown as [{ ms: number }];
  return Number(row.ms);
}

const VIEWER = '{ viewer { id } }';

describe('expiry on the database clock', () => {
  it('a server five minutes ahead takes an API key with two minutes left; a key made for two minutes counts them from the database', async () => {
    const { server: s, t: http } = await skewedServer(300_000);
    const key = await createApiKey(s.sql, { tenant: 'acme', scopes: ['tasks:read'], expiresInMs: 120_000 });
    expect(key.expiresAt!.getTime() - (await databaseNow(s))).toBeGreaterThan(110_000);
    const answer = await http.post(VIEWER, undefined, bearer(key.key));
    expect([answer.status, errorCodes(answer.errors)]).toEqual([200, []]);
  });

  it('a server five minutes behind makes read tokens that live their ttl by the database\'s clock, not expired at birth elsewhere', async () => {
    const { server: s, t: http } = await skewedServer(-300_000);
    const key = (await createApiKey(s.sql, { tenant: 'acme', scopes: ['tasks:read', 'tasks:enqueue'] })).key;
    const task = await s.deps.queue.enqueue({ name: 'demo.echo', tenant: 'acme' });
    const made = await http.post('mutation ($ids: [ID!]!) { createReadToken(taskIds: $ids, ttlSeconds: 60) { token expiresAt } }', { ids: [task.id] }, bearer(key));
    expect(made.errors).toBeUndefined();
    const { token, expiresAt } = (made.data as { createReadToken: { token: string; expiresAt: string } }).createReadToken;
    const left = Date.parse(expiresAt) - (await databaseNow(s));
    expect(left).toBeGreaterThan(50_000);
    expect(left).toBeLessThanOrEqual(60_000);
    const read = await http.post('query ($id: ID!) { taskResult(id: $id) { id } }', { id: task.id }, bearer(token));
    expect([read.status, errorCodes(read.errors)]).toEqual([200, []]);
  });

  it('a server five minutes ahead takes a two-minute JWT from an issuer on time, and refuses one expired', async () => {
    // Signed on the real clock (the issuer's), before this process's Date is skewed.
    const fresh = await signTestJwt({ expiresIn: 120 });
    const expired = await signTestJwt({ expiresIn: -5 });
    const { t: http } = await skewedServer(300_000);
    const ok = await http.post(VIEWER, undefined, bearer(fresh));
    expect([ok.status, errorCodes(ok.errors)]).toEqual([200, []]);
    const refused = await http.post(VIEWER, undefined, bearer(expired));
    expect([refused.status, errorCodes(refused.errors)]).toEqual([401, ['UNAUTHENTICATED']]);
  });
});
