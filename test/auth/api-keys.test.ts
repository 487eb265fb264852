import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStillValid, createApiKey, listApiKeys, parseApiKey, revokeApiKey, verifyApiKey } from '../../src/auth/api-keys.js';
import { AppError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(async () => {
  await t?.drop();
});

/** The code and field of the AppError `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<{ code: string; field: string | undefined }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return { code: (error as AppError).code, field: (error as AppError).field };
}

describe('createApiKey', () => {
  it('returns a tw_<id>_<secret> key once and stores only the SHA-256 of its secret', async () => {
    const created = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read', 'tasks:enqueue:reports.*'], name: 'ci' });
    expect(created.key).toMatch(/^tw_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    expect(created.key.slice(3, 35)).toBe(created.id.replaceAll('-', ''));
    expect(created).toMatchObject({ tenant: 'acme', scopes: ['tasks:read', 'tasks:enqueue:reports.*'], name: 'ci', expiresAt: null });
    expect(created.createdAt).toBeInstanceOf(Date);
    const secret = parseApiKey(created.key)!.secret;
    const [row] = await t.db.sql`SELECT * FROM api_keys WHERE id = ${created.id}`;
    expect(row!.secretHash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  it('makes a different secret each time', async () => {
    const [a, b] = await Promise.all([1, 2].map(() => createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] })));
    expect(parseApiKey(a!.key)!.secret).not.toBe(parseApiKey(b!.key)!.secret);
  });

  it.each([
    ['an empty tenant', { tenant: '', scopes: ['tasks:read'] }, 'tenant'],
    ['a tenant with NUL', { tenant: 'a\u0000', scopes: ['tasks:read'] }, 'tenant'],
    ['tenant "*"', { tenant: '*', scopes: ['tasks:read'] }, 'tenant'],
    ['no scopes', { tenant: 'acme', scopes: [] }, 'scopes'],
    ['an unknown scope', { tenant: 'acme', scopes: ['tasks:read', 'tasks:destroy'] }, 'scopes'],
    ['a scope with a space', { tenant: 'acme', scopes: ['tasks:enqueue:a b'] }, 'scopes'],
    ['a name with a control character', { tenant: 'acme', scopes: ['admin'], name: 'a\u0007' }, 'name'],
    ['an expiry in the past', { tenant: 'acme', scopes: ['admin'], expiresAt: new Date(Date.now() - 1000) }, 'expiresAt'],
  ])('refuses %s with BAD_USER_INPUT naming the field, storing nothing', async (_, input, field) => {
    const before = await listApiKeys(t.db.sql);
    expect(await failure(createApiKey(t.db.sql, input))).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(await listApiKeys(t.db.sql)).toHaveLength(before.length);
  });
});

describe('verifyApiKey', () => {
  it('gives the principal of a good key: its id, tenant, scopes and expiry', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000);
    const created = await createApiKey(t.db.sql, { tenant: 'globex', scopes: ['tasks:read', 'tasks:cancel'], expiresAt });
    expect(await verifyApiKey(t.db.sql, created.key)).toEqual({
      kind: 'api-key', id: created.id, tenant: 'globex', scopes: ['tasks:read', 'tasks:cancel'], expiresAt,
    });
  });

  it('refuses a wrong secret, an unknown id and malformed keys', async () => {
    const created = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    const { id, secret } = parseApiKey(created.key)!;
    const hex = id.replaceAll('-', '');
    const otherSecret = `${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
    const unknownId = `${hex.slice(0, 31)}${hex[31] === '0' ? '1' : '0'}`;
    for (const key of [
      `tw_${hex}_${otherSecret}`,
      `tw_${unknownId}_${secret}`,
      `tw_${hex}_${secret}x`,
      `tw_${hex}_${secret.slice(1)}`,
      `tw_${hex.toUpperCase()}_${secret}`,
      `TW_${hex}_${secret}`,
      `tw_${hex}_${secret}\n`,
      '',
      'tw_',
    ]) {
      expect(await verifyApiKey(t.db.sql, key)).toBeUndefined();
    }
    expect(await verifyApiKey(t.db.sql, created.key)).toBeDefined();
  });

  it('refuses an expired key', async () => {
    const created = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'], expiresAt: new Date(Date.now() + 60_000) });
    expect(await verifyApiKey(t.db.sql, created.key)).toBeDefined();
    expect(await verifyApiKey(t.db.sql, created.key, new Date(Date.now() + 61_000))).toBeUndefined();
    expect(await apiKeyStillValid(t.db.sql, created.id, new Date(Date.now() + 61_000))).toBe(false);
  });
});

describe('revokeApiKey', () => {
  it('makes the key fail at once, is idempotent, and keeps the first revocation time', async () => {
    const created = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    expect(await apiKeyStillValid(t.db.sql, created.id)).toBe(true);
    const first = await revokeApiKey(t.db.sql, created.id);
    expect(first.revokedAt).toBeInstanceOf(Date);
    expect(await verifyApiKey(t.db.sql, created.key)).toBeUndefined();
    expect(await apiKeyStillValid(t.db.sql, created.id)).toBe(false);
    const again = await revokeApiKey(t.db.sql, created.id);
    expect(again.revokedAt).toEqual(first.revokedAt);
  });

  it('answers NOT_FOUND for an unknown or malformed id', async () => {
    expect(await failure(revokeApiKey(t.db.sql, '01900000-0000-7000-8000-000000000000'))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await failure(revokeApiKey(t.db.sql, 'nope'))).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('listApiKeys', () => {
  it('lists every key with its state and never a hash or secret', async () => {
    const created = await createApiKey(t.db.sql, { tenant: 'initech', scopes: ['admin'], name: 'listed' });
    await revokeApiKey(t.db.sql, created.id);
    const keys = await listApiKeys(t.db.sql);
    const mine = keys.find((k) => k.id === created.id);
    expect(mine).toMatchObject({ tenant: 'initech', scopes: ['admin'], name: 'listed', expiresAt: null });
    expect(mine!.revokedAt).toBeInstanceOf(Date);
    expect(Object.keys(mine!).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'name', 'revokedAt', 'scopes', 'tenant']);
    expect(JSON.stringify(keys)).not.toContain(parseApiKey(created.key)!.secret);
  });
});
