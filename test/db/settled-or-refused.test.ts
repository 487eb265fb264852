import { createServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb, settledOrRefused, type Db } from '../../src/db/client.js';

// What the stops wait with (the worker's claim, the maintenance rounds, the listeners) and the pool's
// end. A database that accepts connections and says nothing (a hung server, a stuck network), then
// stops accepting them (a stopped server): its statements stay unanswered throughout, which a real
// PostgreSQL stopped under a test shows only now and then (when postgres.js is between attempts).
describe('a wait on statements of a pool whose database refuses connections', () => {
  const sockets: Socket[] = [];
  let db: Db | undefined;
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await db?.close();
    db = undefined;
  });

  async function silentServer(): Promise<{ port: number; stopListening(): void }> {
    const server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    // close() stops listening at once; its callback would wait for the accepted connections to end.
    return { port: address.port, stopListening: () => void server.close() };
  }

  it('waits while the database accepts connections, stops waiting once it refuses them, and the pool then ends at once', async () => {
    const server = await silentServer();
    db = createDb(`postgres://taskwire@127.0.0.1:${server.port}/taskwire`, { max: 1 });
    const statement = db.sql`SELECT 1`.then(
      () => 'answered',
      (error: Error) => error.message,
    );
    // Accepting, unanswered: the wait goes on, to its own bound or for ever.
    expect(await settledOrRefused(statement, db.sql, { atMostMs: 600 })).toBe('too long');
    const waiting = settledOrRefused(statement, db.sql);
    expect(await Promise.race([waiting, delay(800).then(() => 'still waiting')])).toBe('still waiting');
    server.stopListening();
    // The statement's connection stays open and silent; new ones are refused.
    const looking = performance.now();
    expect(await waiting).toBe('refused');
    expect(performance.now() - looking).toBeLessThan(3000);
    const closing = performance.now();
    await db.close();
    // The end's own timeout is 5 s: past it, the close waited for the statement.
    expect(performance.now() - closing).toBeLessThan(3000);
    expect(await statement).toMatch(/CONNECTION_DESTROYED/);
    db = undefined;
  });

  it('returns as soon as the statements are answered, without looking', async () => {
    const server = await silentServer();
    db = createDb(`postgres://taskwire@127.0.0.1:${server.port}/taskwire`, { max: 1 });
    expect(await settledOrRefused(Promise.resolve(), db.sql)).toBe('settled');
    expect(await settledOrRefused(Promise.reject(new Error('failed')), db.sql)).toBe('settled');
    server.stopListening();
  });
});
