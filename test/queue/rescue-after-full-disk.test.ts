import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import type { Round } from '../../src/queue/maintenance/rounds.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { captureLog } from '../helpers/log-capture.js';
import { refusedWrites } from '../helpers/refused-writes.js';
import { waitFor } from '../helpers/wait.js';

// A full disk answers reads (`SELECT 1`) while it refuses every write, the workers' lease renewals
// among them. When the space comes back, a live worker renews at its next heartbeat; so the rescuer
// takes no lease as lost for one LEASE_MS from the moment its own writes go through again, however
// long it has been reading meanwhile (it counted the wait from a read before, and could take a
// live worker's task right after the space came back).
const LEASE_MS = 3000;
let database: TestDatabase;
let deps: Deps;
const captured = captureLog('debug');

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: database.url, MAINTENANCE_INTERVAL_MS: '100', LEASE_MS: String(LEASE_MS), HEARTBEAT_MS: '1000' });
  deps = await createDeps(config, { databaseUrl: database.url, log: captured.log });
});
afterAll(async () => {
  await deps?.rescuer.stop();
  await deps?.db.close();
  await database?.drop();
});

describe('the rescuer after a full disk', () => {
  it('waits one lease from the first write that goes through again, not from a read', async () => {
    const sql = deps.db.sql;
    const [task] = await deps.queue.enqueueMany([{ name: 'demo.echo', maxAttempts: 1 }]);
    // A short lease of its own, so that it runs out while the disk is full.
    await claimTasks(sql, { workerId: 'renewals-refused-w', limit: 1, queues: [], leaseMs: 200, freeSlots: 1 });
    const disk = await refusedWrites(sql, {
      name: 'full_disk',
      table: 'tasks',
      event: 'UPDATE',
      when: 'true',
      sqlState: '53100',
      message: 'could not extend file "base/16384/16385": No space left on device',
    });
    await disk.block();
    const rounds: Round[] = [];
    const off = deps.rescuer.onRound((r) => rounds.push(r));
    await deps.rescuer.start();
    // The lease runs out, the rescue is refused: the rescuer saw the database away.
    const failedAt = await waitFor(() => {
      const i = rounds.findIndex((r) => !r.ok);
      return i >= 0 ? i : undefined;
    }, { message: 'a rescue to be refused' });
    // Rounds go on for half the wait (each reads the database fine), then the space comes back.
    await waitFor(() => rounds.length - failedAt > 15, { message: 'rounds during the full disk', timeoutMs: 20_000 });
    const [{ backAt }] = (await sql`WITH gone AS (DELETE FROM block_full_disk) SELECT clock_timestamp() AS "backAt"`) as unknown as [{ backAt: Date }];

    const lost = await waitFor(async () => {
      const t = await deps.queue.getTask(task!.id);
      return t?.status === 'FAILED' ? t : undefined;
    }, { message: 'the task to be rescued', timeoutMs: 20_000 });
    off();
    expect(lost.errors.map((e) => e.exceptionType)).toEqual(['WorkerLost']);
    // A whole lease for its worker to renew, counted from when the space came back.
    expect(lost.finishedAt!.getTime() - backAt.getTime()).toBeGreaterThanOrEqual(LEASE_MS);
    // The rescues tried and rolled back meanwhile left nothing: no version spent, no event.
    const events = await sql`SELECT version, type FROM task_events WHERE task_id = ${task!.id} ORDER BY version`;
    expect(events.map((e) => `${e.version}:${e.type}`)).toEqual(['1:ENQUEUED', '2:STARTED', '3:RESCUED']);
    expect(lost.version).toBe(3);
    await disk.drop();
  });
});
