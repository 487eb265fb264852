import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { statementAfterBufferedCut } from '../helpers/tcp-proxy.js';

// postgres.js 3.4.x left a write it had buffered when its connection closed in the buffer, and the
// connection's next startup message behind it, unsent: the next statement waited connect_timeout (30 s)
// and failed (src/db/client.ts, STARTUP_PADDING). A chaos tester met it after pg_terminate_backend under load.
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

describe('a connection closed with a statement still buffered', () => {
  it('connects again and answers the next statement at once', async () => {
    const cut = await statementAfterBufferedCut(database.url, (db) => db.sql`SELECT 1`);
    expect(cut.buffered).toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(cut.next).toEqual([{ three: 3 }]);
    // Not a speed figure: the stall it replaces was connect_timeout's 30 s, then a CONNECT_TIMEOUT.
    expect(cut.nextMs).toBeLessThan(10_000);
  });
});
