import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, createApiKeyChecker, parseApiKey, revokeApiKey } from '../../src/auth/api-keys.js';
import { CredentialExpiredError } from '../../src/errors.js';
import { withWrongSecret } from '../helpers/auth-credentials.js';
import type { Executor } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(async () => {
  await t?.drop();
});

/**
 * The test database's pool, counting the statements the checker sends; with `hold`, each
 * statement's answer (already read) is kept back until `release()`, so a test can act while a
 * read is in flight. `answered` resolves each time a statement has been executed.
 */
function spied(hold = false): { sql: Executor; count(): number; release(): void; answered(): Promise<void> } {
  let queries = 0;
  let release: () => void = () => undefined;
  const gate = hold ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
  let onAnswer: () => void = () => undefined;
  const sql = new Proxy(t.db.sql, {
    async apply(target, self, args: unknown[]) {
      queries += 1;
      const rows: unknown = await Reflect.apply(target, self, args);
      onAnswer();
      await gate;
      return rows;
    },
  });
  return {
    sql,
    count: () => queries,
    release: () => release(),
    answered: () => new Promise<void>((resolve) => (onAnswer = resolve)),
  };
}

describe('createApiKeyChecker', () => {
  it('answers each of many concurrent checks on its own, from one query', async () => {
    const good = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    const other = await createApiKey(t.db.sql, { tenant: 'globex', scopes: ['tasks:enqueue'], expiresAt: new Date(Date.now() + 60_000) });
    const revoked = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    await revokeApiKey(t.db.sql, revoked.id);
    const { secret } = parseApiKey(good.key)!;
    const wrongSecret = good.key.replace(secret, `${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`);
    const spy = spied();
    const checker = createApiKeyChecker(spy.sql);
    const [a, a2, b, c, d, e, f, g, h] = await Promise.all([
      checker.verify(good.key),
      checker.verify(good.key),
      checker.verify(other.key),
      // The right secret of an expired or a revoked key: said so, not answered as a guess.
      checker.verify(other.key, new Date(Date.now() + 61_000)).catch((error: unknown) => error),
      checker.verify(revoked.key).catch((error: unknown) => error),
      checker.verify(wrongSecret),
      checker.stillValid(good.id.toUpperCase()),
      checker.stillValid(revoked.id),
      checker.stillValid('01900000-0000-7000-8000-000000000000'),
    ]);
    expect(a).toEqual({ kind: 'api-key', id: good.id, tenant: 'acme', scopes: ['tasks:read'] });
    expect(a2).toEqual(a);
    expect(b).toMatchObject({ id: other.id, tenant: 'globex', scopes: ['tasks:enqueue'], expiresAt: other.expiresAt });
    expect(c).toBeInstanceOf(CredentialExpiredError);
    expect(d).toBeInstanceOf(CredentialExpiredError);
    expect(e).toBeUndefined();
    expect([f, g, h]).toEqual([true, false, false]);
    expect(spy.count()).toBe(1);
    // A revoked key's id with a wrong secret is a guess like any other.
    expect(await checker.verify(withWrongSecret(revoked.key))).toBeUndefined();
  });

  it('lets checks asked for in separate callbacks of one event-loop turn share a query', async () => {
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    const spy = spied();
    const checker = createApiKeyChecker(spy.sql);
    // Two immediates queued in one turn run in one check phase, with the microtasks drained between
    // them (two 0 ms timers may fall in different phases when their creation straddles a millisecond).
    const checks = await Promise.all([0, 1].map(() => new Promise((resolve) => setImmediate(() => resolve(checker.verify(key.key))))));
    expect(checks).toEqual([expect.objectContaining({ id: key.id }), expect.objectContaining({ id: key.id })]);
    expect(spy.count()).toBe(1);
  });

  it('asks nothing for a malformed key or id', async () => {
    const spy = spied();
    const checker = createApiKeyChecker(spy.sql);
    expect(await checker.verify('tw_nope')).toBeUndefined();
    expect(await checker.stillValid('nope')).toBe(false);
    expect(spy.count()).toBe(0);
  });

  it('never answers a check with a read that was sent before it: a revocation holds for the next request', async () => {
    const key = await createApiKey(t.db.sql, { tenant: 'acme', scopes: ['tasks:read'] });
    const spy = spied(true);
    const checker = createApiKeyChecker(spy.sql);
    const read = spy.answered();
    const before = checker.verify(key.key);
    await read; // the first read has seen the key valid and is still in flight
    await revokeApiKey(t.db.sql, key.id);
    const after = checker.verify(key.key);
    const stillValid = checker.stillValid(key.id);
    spy.release();
    expect(await before).toMatchObject({ id: key.id });
    await expect(after).rejects.toBeInstanceOf(CredentialExpiredError);
    expect(await stillValid).toBe(false);
    expect(spy.count()).toBe(2);
  });
});
