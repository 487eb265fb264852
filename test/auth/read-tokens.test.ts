import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { createReadTokens, loadReadTokenSecret, MAX_READ_TOKEN_TASKS } from '../../src/auth/read-tokens.js';
import { AppError, CredentialExpiredError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(async () => {
  await t?.drop();
});

const SECRET = 'a-read-token-secret-of-32-characters-at-least';
const apiKey: Principal = { kind: 'api-key', id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', tenant: 'acme', scopes: ['tasks:read', 'tasks:enqueue'] };
const ids = (n: number): string[] => Array.from({ length: n }, () => uuidv7());

async function failure(promise: Promise<unknown>): Promise<{ code: string; field: string | undefined }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return { code: (error as AppError).code, field: (error as AppError).field };
}

describe('createReadTokens', () => {
  it('issues a token that verifies as a read-token principal of the issuer\'s tenant, for those tasks only', async () => {
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 3600, log: silentLogger });
    const [a, b] = ids(2) as [string, string];
    const started = Date.now();
    const { token, expiresAt } = await tokens.issue(apiKey, [a, b.toUpperCase(), a]);
    expect(expiresAt.getTime()).toBeGreaterThan(started + 3_598_000);
    expect(expiresAt.getTime()).toBeLessThanOrEqual(started + 3_600_000 + 1000);
    expect(await tokens.verify(token)).toEqual({
      kind: 'read-token', id: apiKey.id, tenant: 'acme', scopes: ['tasks:read'], taskIds: [a, b], expiresAt, issuerKind: 'api-key',
    });
    expect(decodeJwt(token)).toMatchObject({ typ: 'taskwire-read', sub: apiKey.id, tenant: 'acme', tasks: [a, b] });
  });

  it('takes ttlSeconds, and never outlives the issuing principal', async () => {
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 3600, log: silentLogger });
    const short = await tokens.issue(apiKey, ids(1), 60);
    expect(short.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
    const principalExpiry = new Date(Date.now() + 30_500);
    const capped = await tokens.issue({ ...apiKey, kind: 'jwt', expiresAt: principalExpiry }, ids(1));
    expect(capped.expiresAt.getTime()).toBeLessThanOrEqual(principalExpiry.getTime());
    expect(capped.expiresAt.getTime()).toBeGreaterThan(principalExpiry.getTime() - 1000);
    expect((await tokens.verify(capped.token))?.expiresAt).toEqual(capped.expiresAt);
  });

  it('refuses an expired token, one signed with another secret, and malformed ones', async () => {
    let now = Date.now();
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 60, log: silentLogger, now: () => now });
    const other = createReadTokens({ sql: t.db.sql, secret: `${SECRET}-other`, ttlS: 60, log: silentLogger });
    const { token } = await tokens.issue(apiKey, ids(1));
    expect(await other.verify(token)).toBeUndefined();
    expect(await tokens.verify(token)).toBeDefined();
    now += 61_000;
    // Signed here, only too old: said so (it is no guess; the failed-auth throttle does not count it).
    await expect(tokens.verify(token)).rejects.toBeInstanceOf(CredentialExpiredError);
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/expired/) });
    expect(await other.verify(token)).toBeUndefined();
    for (const bad of ['', 'x', 'a.b.c', `${token}x`, token.split('.').slice(0, 2).join('.')]) expect(await tokens.verify(bad)).toBeUndefined();
  });

  it('refuses an ordinary JWT signed with the same secret, and a read token whose claims were changed', async () => {
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 60, log: silentLogger });
    const key = new TextEncoder().encode(SECRET);
    const exp = Math.floor(Date.now() / 1000) + 60;
    const tasks = ids(1);
    const claims = { sub: 'x', tenant: 'acme', tasks, ik: 'jwt', exp };
    const plain = await new SignJWT({ ...claims, typ: 'taskwire-read' }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    const noTyp = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'taskwire-read+jwt' }).sign(key);
    const tooMany = await new SignJWT({ ...claims, typ: 'taskwire-read', tasks: ids(101) }).setProtectedHeader({ alg: 'HS256', typ: 'taskwire-read+jwt' }).sign(key);
    const good = await new SignJWT({ ...claims, typ: 'taskwire-read' }).setProtectedHeader({ alg: 'HS256', typ: 'taskwire-read+jwt' }).sign(key);
    expect(await tokens.verify(plain)).toBeUndefined();
    expect(await tokens.verify(noTyp)).toBeUndefined();
    expect(await tokens.verify(tooMany)).toBeUndefined();
    expect(await tokens.verify(good)).toMatchObject({ kind: 'read-token', taskIds: tasks });
    const [h, , s] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, typ: 'taskwire-read', tenant: 'globex' })).toString('base64url')}.${s}`;
    expect(await tokens.verify(tampered)).toBeUndefined();
  });

  it.each([
    ['no task ids', [], undefined, 'taskIds'],
    [`more than ${MAX_READ_TOKEN_TASKS} task ids`, ids(MAX_READ_TOKEN_TASKS + 1), undefined, 'taskIds'],
    ['a malformed id', ['nope'], undefined, 'taskIds'],
    ['a ttl of 0', ids(1), 0, 'ttlSeconds'],
    ['a fractional ttl', ids(1), 1.5, 'ttlSeconds'],
    ['a ttl past 31 days', ids(1), 31 * 86_400 + 1, 'ttlSeconds'],
  ])('refuses %s with BAD_USER_INPUT', async (_, taskIds, ttl, field) => {
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 60, log: silentLogger });
    expect(await failure(tokens.issue(apiKey, taskIds, ttl))).toEqual({ code: 'BAD_USER_INPUT', field });
  });

  it('issues exactly 100 task ids', async () => {
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 60, log: silentLogger });
    const many = ids(MAX_READ_TOKEN_TASKS);
    expect((await tokens.verify((await tokens.issue(apiKey, many)).token))?.taskIds).toEqual(many);
  });

  it('lets a read token make tokens for its own tasks only, keeping the first issuer', async () => {
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 60, log: silentLogger });
    const [a, b] = ids(2) as [string, string];
    const readToken = (await tokens.verify((await tokens.issue(apiKey, [a])).token))!;
    expect(await failure(tokens.issue(readToken, [a, b]))).toMatchObject({ code: 'NOT_FOUND' });
    const again = await tokens.verify((await tokens.issue(readToken, [a], 3600)).token);
    expect(again).toMatchObject({ id: apiKey.id, issuerKind: 'api-key', taskIds: [a] });
    // Never past the read token it was made with.
    expect(again!.expiresAt!.getTime()).toBeLessThanOrEqual(readToken.expiresAt!.getTime());
  });

  it('gives the token the principal\'s tenant (for an admin, the caller passes the tasks\' one)', async () => {
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 60, log: silentLogger });
    const admin: Principal = { ...apiKey, scopes: ['admin'] };
    expect(await tokens.verify((await tokens.issue({ ...admin, tenant: 'globex' }, ids(1))).token)).toMatchObject({ tenant: 'globex', scopes: ['tasks:read'] });
    expect(await tokens.verify((await tokens.issue(apiKey, ids(1))).token)).toMatchObject({ tenant: 'acme' });
  });

  it('refuses to issue for a principal that has expired', async () => {
    const tokens = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 60, log: silentLogger });
    expect(await failure(tokens.issue({ ...apiKey, expiresAt: new Date(Date.now() - 1) }, ids(1)))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});

describe('the secret kept in the database', () => {
  it('is made once: servers starting at once agree on it, and tokens of one verify on the other', async () => {
    await t.db.sql`DELETE FROM taskwire_settings`;
    const secrets = await Promise.all(Array.from({ length: 8 }, () => loadReadTokenSecret(t.db.sql)));
    expect(new Set(secrets).size).toBe(1);
    expect(secrets[0]!.length).toBeGreaterThanOrEqual(43);
    const [a, b] = [1, 2].map(() => createReadTokens({ sql: t.db.sql, ttlS: 60, log: silentLogger }));
    const { token } = await a!.issue(apiKey, ids(1));
    expect(await b!.verify(token)).toMatchObject({ kind: 'read-token' });
    const withEnvSecret = createReadTokens({ sql: t.db.sql, secret: SECRET, ttlS: 60, log: silentLogger });
    expect(await withEnvSecret.verify(token)).toBeUndefined();
  });
});
