import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait.js';

// A pool whose connection is lost and comes back where postgres.js would read the array types
// again (the read it never awaits: porsager/postgres#1192). Found when a worker process died of
// an unhandled rejection during a PostgreSQL restart (database-restart.test.ts, 1 run in ~8);
// made deterministic here by making that read fail: the role may no longer see pg_type.
const ROLE = `taskwire_rel_${randomBytes(4).toString('hex')}`;
let database: TestDatabase;
let admin: postgres.Sql;
let pool: Db | undefined;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

beforeAll(async () => {
  database = await createTestDatabase();
  admin = postgres(database.url, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE ROLE ${ROLE} LOGIN PASSWORD 'x'`);
  process.on('unhandledRejection', onUnhandled);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await pool?.close();
  await admin.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${ROLE}'`);
  await admin.end();
  await database?.drop();
  const root = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
  await root.unsafe(`DROP ROLE IF EXISTS ${ROLE}`).finally(() => root.end());
});

describe('createDb', () => {
  it('reconnects after losing its connection without reading the array types again (no unhandled rejection)', async () => {
    const url = new URL(database.url);
    url.username = ROLE;
    url.password = 'x';
    pool = createDb(url.toString(), { max: 1 });
    // First connection: the types are read (and an array round-trips).
    expect(await pool.sql`SELECT ${['a', 'b']}::text[] AS xs`).toEqual([{ xs: ['a', 'b'] }]);

    // From now on reading pg_type fails for this role; then its connection is cut.
    await admin.unsafe('REVOKE SELECT ON pg_catalog.pg_type FROM PUBLIC');
    try {
      await admin.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${ROLE}'`);
      // The pool notices the cut on its next queries (which may fail with it, as callers'
      // retries expect), then reconnects. Before the fix the reconnection hung: each try is bounded.
      const db = pool;
      const again = await waitFor(
        () => within(2000, db.sql`SELECT ${['c']}::text[] AS xs`).catch(() => undefined),
        { timeoutMs: 6000, intervalMs: 50, message: 'a query to succeed after the reconnection' },
      );
      expect(again).toEqual([{ xs: ['c'] }]);
      // A dropped promise rejects on a later turn of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await admin.unsafe('GRANT SELECT ON pg_catalog.pg_type TO PUBLIC');
    }
    expect(unhandled).toEqual([]);
  });
});

/** `promise`, or a rejection after `ms`. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
