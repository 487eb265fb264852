import { afterEach, describe, expect, it } from 'vitest';
import { createClaimLoop } from '../../src/worker/claim-loop.js';
import { createQueueGate } from '../../src/worker/queue-gate.js';
import { captureLog } from '../helpers/log-capture.js';
import { startSilentDatabase, type SilentDatabase } from '../helpers/silent-database.js';
import { waitFor } from '../helpers/wait.js';

// A worker stopped while its database refuses connections does not wait for its claim under way
// (src/worker/claim-loop.ts stop); the claim, not sent yet, must then never run: were the database
// back before the pool ends, it would take tasks nobody could hand back. Against a database that accepted
// the connection and says nothing, then refuses (helpers/silent-database.ts), the claim waits in
// postgres.js for the connection being made, as it does for one during an outage.
describe('a claim loop stopped while its database refuses connections', () => {
  let silent: SilentDatabase | undefined;
  afterEach(async () => {
    await silent?.close();
    silent = undefined;
  });

  it('stops without waiting for its claim, and the claim is cancelled, never sent', async () => {
    silent = await startSilentDatabase();
    const { db } = silent;
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
    await waitFor(() => silent!.accepted.length > 0 && loop.claiming, { message: 'the claim under way' });
    silent.stopListening();
    await loop.stop();
    expect(lines.some((l) => l.msg === 'the database refuses connections: the worker stops without waiting for its claim under way')).toBe(true);
    // Cancelled (57014) rather than left for postgres.js to send once a connection is made.
    const cancelled = await waitFor(() => failures.find((e) => (e as { code?: string }).code === '57014'), { timeoutMs: 5000, message: 'the claim cancelled' });
    expect(String(cancelled)).toMatch(/canceling statement/);
  });
});
