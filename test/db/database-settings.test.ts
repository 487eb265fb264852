import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createEmptyDatabase, type EmptyDatabase } from '../helpers/migrations.js';

// Settings a DBA sets for the whole database, which taskwire's own connections must not inherit:
// a statement_timeout (it cancelled CREATE INDEX CONCURRENTLY on a big table, and every process,
// migrating at start, exited), `serializable` as the default isolation (claims failed with 40001).
let database: EmptyDatabase;
beforeAll(async () => {
  database = await createEmptyDatabase('taskwire_dba_settings');
  const admin = postgres(database.url.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => undefined });
  const name = new URL(database.url).pathname.slice(1);
  await admin.unsafe(`ALTER DATABASE ${name} SET statement_timeout = '1ms'`);
  await admin.unsafe(`ALTER DATABASE ${name} SET default_transaction_isolation = 'serializable'`);
  await admin.end();
});
afterAll(async () => {
  await database?.drop();
});

describe('a database with its own defaults', () => {
  it('migrates under a 1 ms statement_timeout, and the pool reads committed, without JIT, whatever the database says', async () => {
    const report = await migrateDatabase(database.url);
    expect(report.applied).toBeGreaterThan(30);
    // The pool keeps a database's statement_timeout (its statements are short; a 30 s one guards them): 1 ms is for the migrations.
    const admin = postgres(database.url.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => undefined });
    await admin.unsafe(`ALTER DATABASE ${new URL(database.url).pathname.slice(1)} RESET statement_timeout`);
    await admin.end();
    const db = createDb(database.url, { max: 1 });
    try {
      const [row] = await db.sql<{ isolation: string; jit: string }[]>`SELECT current_setting('transaction_isolation') AS isolation, current_setting('jit') AS jit`;
      expect(row).toEqual({ isolation: 'read committed', jit: 'off' });
    } finally {
      await db.close();
    }
  });
});
