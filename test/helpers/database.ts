import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { createDb, type Db } from '../../src/db/client.js';

export interface TestDatabase {
  /** URL of this test's own, freshly migrated database. */
  url: string;
  db: Db;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

function urlFor(database: string): string {
  const u = new URL(inject('adminUrl'));
  u.pathname = `/${database}`;
  return u.toString();
}

/** A private database copied from the migrated template: call in beforeAll, drop in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `taskwire_test_${randomBytes(5).toString('hex')}`;
  const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDb')}`);
  } finally {
    await admin.end();
  }
  const url = urlFor(name);
  const db = createDb(url, { max: 10 });
  return {
    url,
    db,
    async drop() {
      await db.close();
      const a = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
