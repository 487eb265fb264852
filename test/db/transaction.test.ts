import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { transaction } from '../../src/db/transaction.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { databaseThroughProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

// postgres.js 3.4.x wrote its ROLLBACK of a transaction whose connection had closed to a null socket
// from a setImmediate: an uncaught TypeError that took the process down (porsager/postgres#1208).
let database: TestDatabase;
let admin: postgres.Sql;
let proxy: TcpProxy;
let pool: Db;
const uncaught: unknown[] = [];
const onUncaught = (error: unknown): void => void uncaught.push(error);

beforeAll(async () => {
  database = await createTestDatabase();
  admin = postgres(database.url, { max: 1, onnotice: () => undefined });
  await admin`CREATE TABLE tx_probe (n int)`;
  process.on('uncaughtException', onUncaught);
});
afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await admin?.end();
  await database?.drop();
});
// A pool of its own per test: one whose backend was terminated under a query answers the next query
// on that connection with the stale 57P01 after reconnecting (postgres.js keeps the error response).
beforeEach(async () => {
  ({ proxy, db: pool } = await databaseThroughProxy(database.url, 2));
});
afterEach(async () => {
  proxy.reopen();
  // Not close()'s 5 s: postgres.js waits that long to end a connection that died under a query.
  await pool.sql.end({ timeout: 0 });
  await proxy.close();
  // A backend the network cut from its client still sleeps in its transaction: end it.
  await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND pid <> pg_backend_pid()`;
  await admin`DELETE FROM tx_probe`;
});

/** Starts a transaction that writes a row and then waits in the database; resolves with its backend's pid. */
async function transactionInFlight(): Promise<{ pid: number; outcome: Promise<unknown> }> {
  let pid: number | undefined;
  const outcome = transaction(pool.sql, async (tx) => {
    const [row] = await tx<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    pid = row?.pid;
    await tx`INSERT INTO tx_probe VALUES (1)`;
    await tx`SELECT pg_sleep(30)`;
    return 'committed';
  }).catch((error: unknown) => error);
  await waitFor(() => pid, { timeoutMs: 5000, intervalMs: 5, message: 'the transaction to start' });
  return { pid: pid as number, outcome };
}

async function expectSurvived(outcome: Promise<unknown>): Promise<void> {
  expect(await outcome).toMatchObject({ code: 'CONNECTION_CLOSED' });
  // The crash came from a setImmediate after the rejection: a few turns of the loop for it.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(uncaught).toEqual([]);
  // Nothing committed, and the pool answers again.
  expect(await admin`SELECT count(*)::int AS n FROM tx_probe`).toEqual([{ n: 0 }]);
  const again = await waitFor(() => pool.sql`SELECT 1 AS one`.catch(() => undefined), {
    timeoutMs: 5000,
    intervalMs: 20,
    message: 'the pool to answer again',
  });
  expect(again).toEqual([{ one: 1 }]);
}

describe('transaction', () => {
  it('rejects when the database ends its connection, and takes nothing down', async () => {
    const { pid, outcome } = await transactionInFlight();
    await admin`SELECT pg_terminate_backend(${pid})`;
    await expectSurvived(outcome);
  });

  it('rejects when the network cuts its connection, and takes nothing down', async () => {
    const { outcome } = await transactionInFlight();
    proxy.cut();
    const settled = await outcome;
    proxy.reopen();
    await expectSurvived(Promise.resolve(settled));
  });

  it("rolls back, and does not hold, a transaction failed by another connection's close", async () => {
    // The same code from a connection that is not the transaction's (a second pool inside it): the
    // transaction's own connection is alive, so it is rolled back as usual, its row lock released.
    const otherPool = postgres(database.url, { max: 1, onnotice: () => undefined });
    try {
      let otherPid: number | undefined;
      const outcome = transaction(pool.sql, async (tx) => {
        await tx`INSERT INTO tx_probe VALUES (5)`;
        otherPid = (await otherPool<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]?.pid;
        await otherPool`SELECT pg_sleep(30)`;
      }).catch((error: unknown) => error);
      await waitFor(() => otherPid, { timeoutMs: 5000, intervalMs: 5, message: 'the other connection to start' });
      await waitFor(async () => (await admin`SELECT 1 FROM pg_stat_activity WHERE pid = ${otherPid as number} AND query LIKE '%pg_sleep%'`).length > 0 || undefined, {
        timeoutMs: 5000,
        intervalMs: 5,
        message: 'the other connection to sleep',
      });
      await admin`SELECT pg_terminate_backend(${otherPid as number})`;
      expect(await outcome).toMatchObject({ code: 'CONNECTION_CLOSED' });
      expect(await admin`SELECT count(*)::int AS n FROM tx_probe`).toEqual([{ n: 0 }]);
      expect(await pool.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    } finally {
      await otherPool.end({ timeout: 0 });
    }
  });

  it('commits what its callback did and answers its value', async () => {
    expect(await transaction(pool.sql, async (tx) => (await tx`INSERT INTO tx_probe VALUES (2) RETURNING n`)[0]?.n)).toBe(2);
    expect(await admin`SELECT n FROM tx_probe`).toEqual([{ n: 2 }]);
  });

  it("rolls back and rethrows a failure that is not the connection's", async () => {
    const failed = transaction(pool.sql, async (tx) => {
      await tx`INSERT INTO tx_probe VALUES (3)`;
      await tx`SELECT 1 / 0`;
    });
    await expect(failed).rejects.toMatchObject({ code: '22012' });
    const thrown = transaction(pool.sql, async (tx) => {
      await tx`INSERT INTO tx_probe VALUES (4)`;
      throw new Error('changed my mind');
    });
    await expect(thrown).rejects.toThrow('changed my mind');
    expect(await admin`SELECT count(*)::int AS n FROM tx_probe`).toEqual([{ n: 0 }]);
  });
});
