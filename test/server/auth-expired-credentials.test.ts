import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/auth/api-keys.js';
import { READ_TOKEN_HEADER_TYP, READ_TOKEN_TYP } from '../../src/auth/read-tokens.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { AUTH_ENV, signTestJwt } from '../helpers/auth-credentials.js';
import { bearer, createAuthTransports, type AuthTransports } from '../helpers/auth-transports.js';
import { errorCodes } from '../helpers/graphql.js';

// The failed-authentication throttle counts guesses only (docs/auth.md#transports): a credential
// whose signature verifies (or an API key sent with its right secret) that has merely expired or
// was revoked is refused with UNAUTHENTICATED saying so, and does not count, however often it
// comes from one address; a bad signature still does, expired or not.
const READ_SECRET = 'expired-credentials-read-token-secret-0123456789';
const MAX_FAILURES = 3;
const WATCH = 'subscription($id: ID!) { taskStatusChanged(id: $id) { id status } }';

/** A read token as the server signs them (READ_SECRET), expired `secondsAgo` ago unless negative. */
function readToken(secondsAgo: number, secret = READ_SECRET): Promise<string> {
  return new SignJWT({ typ: READ_TOKEN_TYP, tenant: 'acme', tasks: [uuidv7()], ik: 'jwt' })
    .setProtectedHeader({ alg: 'HS256', typ: READ_TOKEN_HEADER_TYP })
    .setSubject('user-1')
    .setIssuedAt(Math.floor(Date.now() / 1000) - secondsAgo - 60)
    .setExpirationTime(Math.floor(Date.now() / 1000) - secondsAgo)
    .sign(new TextEncoder().encode(secret));
}

/** A fresh server (its throttle remembers nothing) and this address's transports. */
async function freshServer(env: Record<string, string> = {}): Promise<{ server: TestServer; t: AuthTransports; good: string }> {
  const server = await startTestServer({
    env: { ...AUTH_ENV, READ_TOKEN_SECRET: READ_SECRET, ...env },
    app: { auth: { failedAuth: { maxFailures: MAX_FAILURES, windowMs: 60_000 } } },
  });
  const good = (await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read'] })).key;
  return { server, t: createAuthTransports(server.url), good };
}

let env: { server: TestServer; t: AuthTransports; good: string } | undefined;
beforeAll(async () => {
  env = await freshServer();
});
afterAll(async () => {
  await env?.t.closeAll();
  await env?.server.close();
});

describe('expired but genuine credentials, many times from one address', () => {
  it('are refused with UNAUTHENTICATED saying they expired, on every transport, and never throttle the address', async () => {
    const { server, t, good } = env!;
    const revoked = await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    await revokeApiKey(server.sql, revoked.id);
    const expiredJwt = await signTestJwt({ expiresIn: -5 });
    const expiredRead = await readToken(5);
    // Each one alone is several times the throttle's limit.
    for (let i = 0; i < 3 * MAX_FAILURES; i += 1) {
      for (const credential of [expiredJwt, expiredRead, revoked.key]) {
        const res = await t.post('{ __typename }', undefined, bearer(credential));
        expect(res.status).toBe(401);
        expect(errorCodes(res.errors)).toEqual(['UNAUTHENTICATED']);
        expect(res.errors?.[0]?.message).toMatch(/expired/);
      }
      const closed = await t.ws({ authorization: `Bearer ${expiredRead}` }).closed;
      expect(closed.code).toBe(4403);
      expect(closed.reason).toMatch(/expired/);
      const sse = await t.sse(WATCH, { id: uuidv7() }, bearer(expiredJwt));
      expect(sse.status).toBe(401);
      await sse.ended;
    }
    // The address is not throttled: an API key from it is served, over HTTP and graphql-ws.
    expect(await t.post('{ __typename }', undefined, bearer(good))).toMatchObject({ status: 200, data: { __typename: 'Query' } });
    const query = t.ws({ authorization: `Bearer ${good}` }).subscribe('{ __typename }');
    expect(await query.ended).toBe('complete');
  });
});

describe('JWTs that are no guess: signed right but a claim fails, or not checkable (the JWKS unavailable)', () => {
  it('are refused with UNAUTHENTICATED and never throttle the address', async () => {
    // Nothing listens on port 1: the JWKS fetch fails, as an identity provider's outage would make it.
    const { server, t, good } = await freshServer({ JWT_JWKS_URL: 'http://127.0.0.1:1/jwks.json' });
    try {
      const { privateKey, publicKey } = await generateKeyPair('RS256');
      const rs256 = await new SignJWT({ tenant: 'acme', scope: 'tasks:read' })
        .setProtectedHeader({ alg: 'RS256', kid: (await exportJWK(publicKey)).n?.slice(0, 8) ?? 'k1' })
        .setSubject('user-1')
        .setAudience('taskwire-tests')
        .setExpirationTime('10m')
        .sign(privateKey);
      const credentials = [
        await signTestJwt({ audience: 'someone-else' }),
        await signTestJwt({ tenant: '*' }),
        await new SignJWT({ tenant: 'acme', scope: 'tasks:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject('user-1').setAudience('taskwire-tests')
          .setNotBefore(Math.floor(Date.now() / 1000) + 3600).setExpirationTime('2h').sign(new TextEncoder().encode('test-jwt-secret-0123456789-abcdefghij')),
        rs256,
      ];
      for (let i = 0; i < 3 * MAX_FAILURES; i += 1) {
        for (const credential of credentials) {
          const res = await t.post('{ __typename }', undefined, bearer(credential));
          expect({ i, status: res.status, codes: errorCodes(res.errors) }).toEqual({ i, status: 401, codes: ['UNAUTHENTICATED'] });
        }
      }
      expect(await t.post('{ __typename }', undefined, bearer(good))).toMatchObject({ status: 200, data: { __typename: 'Query' } });
    } finally {
      await t.closeAll();
      await server.close();
    }
  });
});

describe('guesses from one address', () => {
  it('still throttle it: bad signatures (expired or not), a wrong secret of a real key, unknown keys', async () => {
    const cases = async (server: TestServer): Promise<string[]> => {
      const key = (await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read'] })).key;
      await revokeApiKey(server.sql, (await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read'] })).id);
      return [
        await signTestJwt({ secret: 'not-the-server-secret-0123456789-abcdef' }),
        // Expired, but not signed by the server's key: a guess like any other, not "expired".
        await signTestJwt({ secret: 'not-the-server-secret-0123456789-abcdef', expiresIn: -5 }),
        await readToken(5, 'not-the-read-token-secret-0123456789-abcdef'),
        `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`,
        `tw_${'0'.repeat(32)}_${'A'.repeat(43)}`,
      ];
    };
    for (let n = 0; n < 5; n += 1) {
      const { server, t, good } = await freshServer();
      try {
        const guess = (await cases(server))[n]!;
        for (let i = 0; i < MAX_FAILURES; i += 1) {
          const res = await t.post('{ __typename }', undefined, bearer(guess));
          expect(errorCodes(res.errors)).toEqual(['UNAUTHENTICATED']);
          expect(res.errors?.[0]?.message).not.toMatch(/expired/);
        }
        expect((await t.post('{ __typename }', undefined, bearer(good))).status, `guess ${n}`).toBe(429);
        expect((await t.ws({ authorization: `Bearer ${good}` }).closed).code).toBe(4429);
      } finally {
        await t.closeAll();
        await server.close();
      }
    }
  });
});
