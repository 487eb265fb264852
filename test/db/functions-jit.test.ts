import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// JIT compiling on a PostgreSQL built with it (Debian's, Ubuntu's, the official image) cost every
// claim 350–930 ms: the functions plan with scans and sorts off, priced past jit_above_cost. The
// embedded PostgreSQL of these tests has no JIT, so what is checked is the setting, everywhere it
// must be: every taskwire function (a later CREATE OR REPLACE must say it again), and the pool.
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

describe('JIT', () => {
  it('is off in every taskwire function, and for the pool\'s own statements', async () => {
    const functions = await database.db.sql<{ name: string; config: string[] | null }[]>`
      SELECT p.oid::regprocedure::text AS name, p.proconfig AS config
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE p.proname LIKE 'taskwire\\_%' AND n.nspname = ANY (current_schemas(false))
      ORDER BY 1`;
    expect(functions.length).toBeGreaterThan(5);
    expect(functions.filter((f) => !(f.config ?? []).includes('jit=off')).map((f) => f.name)).toEqual([]);
    const [row] = await database.db.sql<{ jit: string }[]>`SHOW jit`;
    expect(row?.jit).toBe('off');
  });
});
