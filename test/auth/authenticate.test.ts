import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/auth/api-keys.js';
import { createAuthenticator, type Authenticator } from '../../src/auth/authenticate.js';
import { ANONYMOUS } from '../../src/auth/principal.js';
import { loadConfig } from '../../src/config.js';
import { AppError, CredentialExpiredError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { withWrongSecret } from '../helpers/auth-credentials.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const JWT_SECRET = 'the-api-jwt-secret-at-least-32-characters';
const READ_SECRET = 'the-read-token-secret-at-least-32-characters';

let t: TestDatabase;
let auth: Authenticator;

beforeAll(async () => {
  t = await createTestDatabase();
  auth = createAuthenticator({ sql: t.db.sql, config: loadConfig({ AUTH_MODE: 'on', JWT_SECRET, READ_TOKEN_SECRET: READ_SECRET }), log: silentLogger });
});

afterAll(async () => {
  await t?.drop();
});

const jwt = (claims: Record<string, unknown>, secret = JWT_SECRET, expS = 600): Promise<string> =>
  new SignJWT({ sub: 'user-1', tenant: 'acme', scope: 'tasks:read', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + expS)
    .sign(new TextEncoder().encode(secret));

/** The error `authenticate(header)` fails with: its code and message, and whether it is a CredentialExpiredError. */
async function refused(a: Authenticator, header: string | undefined): Promise<{ code: string; message: string; expired: boolean }> {
  const error = await a.authenticate(header).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `authenticate(${JSON.stringify(header)?.slice(0, 40)}) succeeded`).toBeInstanceOf(AppError);
  return { code: (error as AppError).code, message: (error as AppError).message, expired: error instanceof CredentialExpiredError };
}

describe('createAuthenticator, AUTH_MODE=off', () => {
  it('is ANONYMOUS whatever is sent, and issues no read tokens', async () => {
    const off = createAuthenticator({ sql: t.db.sql, config: loadConfig({}), log: silentLogger });
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    for (const header of [undefined, '', 'Bearer nonsense', `Bearer ${key.key}`]) expect(await off.authenticate(header)).toBe(ANONYMOUS);
    expect(off.readTokens).toBeNull();
    expect(await off.stillValid(ANONYMOUS)).toBe(true);
  });
});

describe('createAuthenticator, AUTH_MODE=on', () => {
  it('authenticates an API key, a JWT and a read token', async () => {
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:enqueue'] });
    expect(await auth.authenticate(`Bearer ${key.key}`)).toMatchObject({ kind: 'api-key', id: key.id, tenant: 'acme', scopes: ['tasks:enqueue'] });
    expect(await auth.authenticate(`bearer  ${key.key}`)).toMatchObject({ kind: 'api-key', id: key.id });
    expect(await auth.authenticate(`Bearer ${await jwt({ tenant: 'globex' })}`)).toMatchObject({ kind: 'jwt', id: 'user-1', tenant: 'globex' });
    const taskId = uuidv7();
    const issuer = await auth.authenticate(`Bearer ${key.key}`);
    const { token } = await auth.readTokens!.issue(issuer, [taskId]);
    expect(await auth.authenticate(`Bearer ${token}`)).toMatchObject({ kind: 'read-token', id: key.id, tenant: 'acme', taskIds: [taskId], scopes: ['tasks:read'] });
  });

  it('refuses every bad credential with UNAUTHENTICATED and one message that does not say why', async () => {
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'], expiresAt: new Date(Date.now() + 60_000) });
    const revoked = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    await revokeApiKey(t.db.sql, revoked.id);
    const cases: [Authenticator, string | undefined][] = [
      [auth, undefined],
      [auth, ''],
      [auth, 'Bearer'],
      [auth, 'Bearer '],
      [auth, `Basic ${Buffer.from('a:b').toString('base64')}`],
      [auth, key.key],
      [auth, `Bearer ${key.key} extra`],
      [auth, `Bearer ${withWrongSecret(key.key)}`],
      [auth, `Bearer ${withWrongSecret(revoked.key)}`],
      [auth, `Bearer tw_${'0'.repeat(32)}_${'A'.repeat(43)}`],
      [auth, `Bearer ${await jwt({}, `${JWT_SECRET}-wrong`)}`],
      // Expired, but signed with another secret: a guess like any other, not "expired".
      [auth, `Bearer ${await jwt({}, `${JWT_SECRET}-wrong`, -10)}`],
      [auth, 'Bearer not.a.jwt'],
      [auth, `Bearer ${'x'.repeat(20_000)}`],
    ];
    const outcomes = await Promise.all(cases.map(([a, header]) => refused(a, header)));
    expect(new Set(outcomes.map((o) => o.code))).toEqual(new Set(['UNAUTHENTICATED']));
    expect(new Set(outcomes.map((o) => o.message)).size).toBe(1);
    expect(outcomes.filter((o) => o.expired)).toEqual([]);
    expect(outcomes[0]!.message).not.toContain(JWT_SECRET);
  });

  it('says "expired" (CredentialExpiredError, still UNAUTHENTICATED) only for a credential whose signature or secret is right', async () => {
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'], expiresAt: new Date(Date.now() + 60_000) });
    const revoked = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    await revokeApiKey(t.db.sql, revoked.id);
    const later = createAuthenticator({
      sql: t.db.sql, config: loadConfig({ AUTH_MODE: 'on', JWT_SECRET, READ_TOKEN_SECRET: READ_SECRET }), log: silentLogger, now: () => Date.now() + 120_000,
    });
    const readToken = (await auth.readTokens!.issue(await auth.authenticate(`Bearer ${await jwt({})}`), [uuidv7()], 60)).token;
    const cases: [Authenticator, string][] = [
      [auth, `Bearer ${revoked.key}`],
      [later, `Bearer ${key.key}`],
      [auth, `Bearer ${await jwt({}, JWT_SECRET, -10)}`],
      [later, `Bearer ${readToken}`],
    ];
    const outcomes = await Promise.all(cases.map(([a, header]) => refused(a, header)));
    for (const outcome of outcomes) expect(outcome).toMatchObject({ code: 'UNAUTHENTICATED', expired: true, message: expect.stringMatching(/expired/) });
  });

  it('refuses a revoked key from the next request on', async () => {
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    const principal = await auth.authenticate(`Bearer ${key.key}`);
    expect(await auth.stillValid(principal)).toBe(true);
    await revokeApiKey(t.db.sql, key.id);
    expect(await refused(auth, `Bearer ${key.key}`)).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await auth.stillValid(principal)).toBe(false);
  });

  it('refuses the read tokens of a key once it is revoked', async () => {
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    const { token } = await auth.readTokens!.issue(await auth.authenticate(`Bearer ${key.key}`), [uuidv7()]);
    const reader = await auth.authenticate(`Bearer ${token}`);
    expect(await auth.stillValid(reader)).toBe(true);
    await revokeApiKey(t.db.sql, key.id);
    // Its signature holds: not a guess, and said so.
    expect(await refused(auth, `Bearer ${token}`)).toMatchObject({ code: 'UNAUTHENTICATED', expired: true });
    expect(await auth.stillValid(reader)).toBe(false);
  });

  it('keeps the read tokens of a JWT until they expire (a JWT cannot be revoked)', async () => {
    const reader = await auth.authenticate(`Bearer ${(await auth.readTokens!.issue(await auth.authenticate(`Bearer ${await jwt({})}`), [uuidv7()], 60)).token}`);
    expect(reader).toMatchObject({ kind: 'read-token', issuerKind: 'jwt' });
    expect(await auth.stillValid(reader)).toBe(true);
  });

  it('stillValid is false once a JWT, a read token or a key has expired', async () => {
    let now = Date.now();
    const clocked = createAuthenticator({ sql: t.db.sql, config: loadConfig({ AUTH_MODE: 'on', JWT_SECRET, READ_TOKEN_SECRET: READ_SECRET }), log: silentLogger, now: () => now });
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'], expiresAt: new Date(now + 3_600_000) });
    const principals = await Promise.all([`Bearer ${await jwt({}, JWT_SECRET, 60)}`, `Bearer ${key.key}`].map((h) => clocked.authenticate(h)));
    principals.push(await clocked.authenticate(`Bearer ${(await clocked.readTokens!.issue(principals[1]!, [uuidv7()], 120)).token}`));
    expect(await Promise.all(principals.map((p) => clocked.stillValid(p)))).toEqual([true, true, true]);
    now += 61_000;
    expect(await Promise.all(principals.map((p) => clocked.stillValid(p)))).toEqual([false, true, true]);
    now += 60_000;
    expect(await Promise.all(principals.map((p) => clocked.stillValid(p)))).toEqual([false, true, false]);
    now += 3_600_000;
    expect(await Promise.all(principals.map((p) => clocked.stillValid(p)))).toEqual([false, false, false]);
  });

  it('tells a read token from a JWT even when both are signed with the same secret', async () => {
    const same = createAuthenticator({ sql: t.db.sql, config: loadConfig({ AUTH_MODE: 'on', JWT_SECRET, READ_TOKEN_SECRET: JWT_SECRET }), log: silentLogger });
    const user = await same.authenticate(`Bearer ${await jwt({ scope: 'tasks:read tasks:enqueue' })}`);
    expect(user).toMatchObject({ kind: 'jwt' });
    const { token } = await same.readTokens!.issue(user, [uuidv7()]);
    expect(await same.authenticate(`Bearer ${token}`)).toMatchObject({ kind: 'read-token', scopes: ['tasks:read'] });
    // A JWT dressed as a read token by its claims alone is neither.
    expect(await refused(same, `Bearer ${await jwt({ typ: 'taskwire-read', tasks: [uuidv7()], ik: 'jwt' })}`)).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('refuses JWTs when no JWT key is configured, and signs read tokens with the database\'s secret', async () => {
    const keysOnly = createAuthenticator({ sql: t.db.sql, config: loadConfig({ AUTH_MODE: 'on' }), log: silentLogger });
    expect(await refused(keysOnly, `Bearer ${await jwt({})}`)).toMatchObject({ code: 'UNAUTHENTICATED' });
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    const { token } = await keysOnly.readTokens!.issue(await keysOnly.authenticate(`Bearer ${key.key}`), [uuidv7()]);
    const other = createAuthenticator({ sql: t.db.sql, config: loadConfig({ AUTH_MODE: 'on' }), log: silentLogger });
    expect(await other.authenticate(`Bearer ${token}`)).toMatchObject({ kind: 'read-token' });
    expect(await refused(auth, `Bearer ${token}`)).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
