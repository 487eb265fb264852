import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// postgres.js reads the array types (pg_type) when a connection becomes ready, and drops that
// query's promise: a connection that dies in it is an unhandled rejection, which ends a process
// (porsager/postgres#1192). The pool reads them once (src/db/client.ts fetchTypesOnce); here a
// connection that dies at its first statement, opened after the pool knows the types, must die in
// the caller's statement, not in a read of types nobody awaits.
let database: TestDatabase;
let server: Server;
let port: number;
/** Connections accepted so far; from `killFrom` on, each is cut at the first message it sends once ready. */
let accepted = 0;
let killFrom = Number.POSITIVE_INFINITY;
const sockets = new Set<Socket>();

/** ReadyForQuery: 'Z', length 5. */
const READY = Buffer.from([0x5a, 0, 0, 0, 5]);

beforeAll(async () => {
  database = await createTestDatabase();
  const target = Number(new URL(database.url).port);
  server = createServer((client) => {
    const n = ++accepted;
    const upstream = connect(target, '127.0.0.1');
    let ready = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    upstream.on('data', (data: Buffer) => {
      if (data.includes(READY)) ready = true;
      client.write(data);
    });
    client.on('data', (data: Buffer) => {
      if (ready && n >= killFrom) {
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(data);
    });
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await database?.drop();
});

describe('the array types, read once per pool', () => {
  it('a reserve() that needs a new connection, the types known, gets it', async () => {
    const db = createDb(database.url, { max: 2 });
    try {
      await db.sql`SELECT 1`;
      const first = await db.sql.reserve();
      // The pool's one connection held: this reserve() opens the second.
      let timer: NodeJS.Timeout | undefined;
      const second = await Promise.race([db.sql.reserve(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 5000)))]).finally(() => clearTimeout(timer));
      expect(second, 'a second reserved connection within 5 s').toBeDefined();
      expect(await second!`SELECT 2 AS two`).toEqual([{ two: 2 }]);
      second!.release();
      first.release();
    } finally {
      await db.sql.end({ timeout: 0 });
    }
  });

  it('a connection opened after the types are known, and cut at its first message, fails the statement that used it, with no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const collect = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', collect);
    const url = new URL(database.url);
    url.port = String(port);
    const db = createDb(url.toString(), { max: 2 });
    try {
      // The first connection reads the types, then runs this.
      expect(await db.sql<Array<{ a: string[] }>>`SELECT ARRAY['x', 'y'] AS a`).toEqual([{ a: ['x', 'y'] }]);
      killFrom = accepted + 1;
      // The first connection held: the next statement opens a second connection, which is cut at
      // the first message it sends once ready.
      const held = await db.sql.reserve();
      // Bounded: had each new connection read the types first, each would die in that read and the
      // statement wait for ever on connection after connection.
      let timer: NodeJS.Timeout | undefined;
      const cut = await Promise.race([
        db.sql`SELECT 2 AS two`.then(
          () => 'answered',
          (error: { code?: string }) => error.code ?? 'failed',
        ),
        new Promise<string>((resolve) => (timer = setTimeout(resolve, 5000, 'no answer in 5 s'))),
      ]).finally(() => clearTimeout(timer));
      held.release();
      expect(accepted).toBeGreaterThanOrEqual(killFrom);
      // Cut at its own first message: the statement fails; had the connection read the types
      // first, that read would have died, unhandled, and the statement waited for another connection.
      expect(cut).toBe('CONNECTION_CLOSED');
      // Give a dropped promise's rejection the turns it needs to be reported.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
      // The pool goes on, types known.
      killFrom = Number.POSITIVE_INFINITY;
      expect(await db.sql<Array<{ a: number[] }>>`SELECT ARRAY[1, 2] AS a`).toEqual([{ a: [1, 2] }]);
    } finally {
      process.off('unhandledRejection', collect);
      // Not db.close(): postgres.js's end waits its 5 s for a connection that died under a statement
      // (its `query` left set), which is not what this file is about.
      await db.sql.end({ timeout: 0 });
    }
  });
});
