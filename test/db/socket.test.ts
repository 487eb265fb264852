import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpServer } from 'node:http';
import { createDb } from '../../src/db/client.js';
import { checkConnection, openCheckConnection, closeCheckConnection } from '../../src/db/doctor.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { isDatabaseUnavailable } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { databaseThroughProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

// The pool's own sockets (src/db/socket.ts). postgres.js took a close before the server's first byte,
// while connecting for a statement, as a cue to connect again at once: against a server that accepts
// and closes (a proxy with no database behind it) it connected ~600 times a second and the statement
// never failed.
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

/** A server on 127.0.0.1 that accepts every connection and closes it (after `say`, when given), counting them. */
async function closingServer(say?: string): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const server = createServer((socket: Socket) => {
    accepted += 1;
    socket.on('error', () => undefined);
    if (say === undefined) socket.destroy();
    else socket.once('data', () => socket.end(say));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('a server that accepts a connection and closes it without a word', () => {
  it.each([
    ['without TLS', ''],
    ['with TLS if offered (postgres.js negotiates)', '?sslmode=prefer'],
    ['with TLS required (the request made apart)', '?sslmode=require'],
  ])('%s: the statement fails as the database away, after one connection, not a loop', async (_, query) => {
    const server = await closingServer();
    const db = createDb(`postgres://taskwire@127.0.0.1:${server.port}/taskwire${query}`, { max: 1 });
    try {
      const error = await db.sql`SELECT 1`.catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CONNECTION_CLOSED' });
      expect(isDatabaseUnavailable(error)).toBe(true);
      // Before: still waiting, hundreds of connections later.
      expect(server.accepted()).toBe(1);
    } finally {
      await db.sql.end({ timeout: 0 });
      await server.close();
    }
  });

  it.each([
    ['a stray byte', 'x'],
    ['an HTTP answer (DATABASE_URL on a web port)', 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'],
  ])('one that says %s before it closes fails the statement too', async (_, say) => {
    const server = await closingServer(say);
    const db = createDb(`postgres://taskwire@127.0.0.1:${server.port}/taskwire`, { max: 1 });
    try {
      expect(await db.sql`SELECT 1`.catch((e: unknown) => e)).toMatchObject({ code: 'CONNECTION_CLOSED' });
      expect(server.accepted()).toBe(1);
    } finally {
      await db.sql.end({ timeout: 0 });
      await server.close();
    }
  });

  it('migrations (every process at start) and doctor fail at once too, not after a loop', async () => {
    const server = await closingServer();
    const url = `postgres://taskwire@127.0.0.1:${server.port}/taskwire`;
    try {
      await expect(migrateDatabase(url)).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
      const sql = openCheckConnection(url);
      try {
        const checked = await checkConnection(sql, { url, source: 'DATABASE_URL' });
        expect(checked.status).toBe('fail');
        expect(checked.message).not.toMatch(/did not answer/);
      } finally {
        await closeCheckConnection(sql);
      }
      expect(server.accepted()).toBeLessThanOrEqual(3);
    } finally {
      await server.close();
    }
  });

  it('the pool of one connects once the database is behind it again', async () => {
    const { proxy, db } = await databaseThroughProxy(database.url, 1);
    try {
      proxy.cut();
      expect(await db.sql`SELECT 1`.catch((e: unknown) => e)).toMatchObject({ code: 'CONNECTION_CLOSED' });
      proxy.reopen();
      expect(await db.sql`SELECT 2 AS two`).toEqual([{ two: 2 }]);
    } finally {
      await db.sql.end({ timeout: 0 });
      await proxy.close();
    }
  });
});

describe("postgres.js's query.cancel()", () => {
  it('still cancels: the server closes the CancelRequest\'s connection without a word, which is its answer', async () => {
    const db = createDb(database.url, { max: 2 });
    try {
      const sleeping = db.sql`SELECT pg_sleep(30), 'cancel-me' AS tag`;
      const outcome = sleeping.then(
        () => 'finished',
        (error: unknown) => error,
      );
      await waitFor(async () => (await db.sql`SELECT 1 FROM pg_stat_activity WHERE query LIKE '%cancel-me%' AND pid <> pg_backend_pid() AND state = 'active'`).length === 1, {
        message: 'the statement to run',
      });
      await sleeping.cancel();
      expect(await outcome).toMatchObject({ code: '57014' });
    } finally {
      await db.sql.end({ timeout: 0 });
    }
  });
});
