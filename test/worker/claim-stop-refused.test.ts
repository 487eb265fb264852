import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/client.js';
import { createClaimLoop } from '../../src/worker/claim-loop.js';
import { createQueueGate } from '../../src/worker/queue-gate.js';
import { captureLog } from '../helpers/log-capture.js';
import { waitFor } from '../helpers/wait.js';

// A worker stopped while its database refuses connections does not wait for its claim under way
// (src/worker/claim-loop.ts stop); the claim, not sent yet, must then never run: were the database
// back before the pool ends, it would take tasks nobody could hand back. A database that accepted the
// connection and says nothing, then stops accepting (a silent TCP peer): the claim waits in postgres.js
// for the connection being made, as it does for one during an outage.
describe('a claim loop stopped while its database refuses connections', () => {
  const sockets: Socket[] = [];
  let db: Db | undefined;
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await db?.close();
    db = undefined;
  });

  it('stops without waiting for its claim, and the claim is cancelled, never sent', async () => {
    const server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    db = createDb(`postgres://taskwire@127.0.0.1:${port}/taskwire`, { max: 1 });
    const { log, lines } = captureLog();
    const failures: unknown[] = [];
    const loop = createClaimLoop({
      sql: db.sql,
      workerId: 'w-claim-stop',
      log,
      queues: [],
      leaseMs: 60_000,
      pollIntervalMs: 60_000,
      claimsInFlight: 1,
      wanted: () => 1,
      gate: createQueueGate({ sql: db.sql, log, queues: [] }),
      accept: () => undefined,
      handBack: async () => undefined,
      claimFailed: (error) => void failures.push(error),
    });
    loop.start();
    await waitFor(() => sockets.length > 0 && loop.claiming, { message: 'the claim under way' });
    // close() stops listening at once (its callback would wait for the accepted connection to end).
    server.close();
    await loop.stop();
    expect(lines.some((l) => l.msg === 'the database refuses connections: the worker stops without waiting for its claim under way')).toBe(true);
    // Cancelled (57014) rather than left for postgres.js to send once a connection is made.
    const cancelled = await waitFor(() => failures.find((e) => (e as { code?: string }).code === '57014'), { timeoutMs: 5000, message: 'the claim cancelled' });
    expect(String(cancelled)).toMatch(/canceling statement/);
  });
});
