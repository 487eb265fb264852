import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { captureLog, type LogLine } from '../helpers/log-capture.js';
import { waitFor } from '../helpers/wait.js';

// An outage without a restart of the database (here: it refuses connections): no worker could renew
// its lease meanwhile, so the rescuer of a process that saw the outage takes no lease as lost for one
// LEASE_MS after reaching the database again, and then takes the ones nobody renewed.
const LEASE_MS = 1500;
let database: TestDatabase;
let deps: Deps;
let admin: postgres.Sql;
const captured = captureLog('debug');

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: database.url, MAINTENANCE_INTERVAL_MS: '100', LEASE_MS: String(LEASE_MS), HEARTBEAT_MS: '500' });
  deps = await createDeps(config, { databaseUrl: database.url, log: captured.log });
  admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
});
afterAll(async () => {
  await deps?.rescuer.stop();
  await deps?.db.close();
  await admin?.end();
  await database?.drop();
});

const rescuerRounds = (lines: readonly LogLine[]): LogLine[] => lines.filter((l) => l.service === 'rescuer');

describe('the rescuer after an outage of the database', () => {
  it('waits one lease after reaching the database again before it takes a lease as lost', async () => {
    const name = new URL(database.url).pathname.slice(1);
    const [task] = await deps.queue.enqueueMany([{ name: 'demo.echo', maxAttempts: 1 }]);
    await claimTasks(deps.db.sql, { workerId: 'cut-off-w', limit: 1, queues: [], leaseMs: LEASE_MS, freeSlots: 1 });
    await deps.rescuer.start();
    // The database goes away; the lease runs out meanwhile.
    await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${name} AND pid <> pg_backend_pid()`;
    await waitFor(() => rescuerRounds(captured.lines).some((l) => l.msg === 'maintenance round failed'), { message: 'a rescuer round to fail' });
    const [{ expired }] = (await admin`SELECT now() + ${`${LEASE_MS} milliseconds`}::interval AS expired`) as unknown as [{ expired: Date }];
    await waitFor(async () => (await admin`SELECT now() > ${expired} AS past`)[0]?.past === true, { message: 'the lease to run out' });
    await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    const [{ backAt }] = (await admin`SELECT clock_timestamp() AS "backAt"`) as unknown as [{ backAt: Date }];

    // Nobody renewed it: it is taken as lost, but only a lease after the rescuer reached the
    // database again (its first rounds back find the lease long run out, and take nothing).
    const lost = await waitFor(async () => {
      const t = await deps.queue.getTask(task!.id);
      return t?.status === 'FAILED' ? t : undefined;
    }, { message: 'the task to be rescued', timeoutMs: 15_000 });
    expect(lost.errors.map((e) => e.exceptionType)).toEqual(['WorkerLost']);
    expect(lost.finishedAt!.getTime() - backAt.getTime()).toBeGreaterThanOrEqual(LEASE_MS);
    // And it did go round meanwhile: rounds that reached the database came back empty.
    expect(rescuerRounds(captured.lines).filter((l) => l.msg === 'maintenance round').length).toBeGreaterThan(0);
  });

  it('takes a lease that runs out long after an outage at once: a lease of empty rounds since the outage ends the wait', async () => {
    const name = new URL(database.url).pathname.slice(1);
    await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${name} AND pid <> pg_backend_pid()`;
    const failedBefore = rescuerRounds(captured.lines).filter((l) => l.msg === 'maintenance round failed').length;
    await waitFor(() => rescuerRounds(captured.lines).filter((l) => l.msg === 'maintenance round failed').length > failedBefore, { message: 'a rescuer round to fail' });
    await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    const backAt = performance.now();
    // Rounds go on for more than a lease, with nothing to take.
    await waitFor(() => performance.now() - backAt > LEASE_MS * 1.5, { message: 'a lease and a half to pass', intervalMs: 50 });
    // Then a worker is lost: its lease runs out now (a claim with a lease already over).
    const [task] = await deps.queue.enqueueMany([{ name: 'demo.echo', maxAttempts: 1 }]);
    await claimTasks(deps.db.sql, { workerId: 'lost-later-w', limit: 1, queues: [], leaseMs: -1, freeSlots: 1 });
    const claimedAt = performance.now();
    await waitFor(async () => (await deps.queue.getTask(task!.id))?.status === 'FAILED', { message: 'the task to be rescued', timeoutMs: 15_000 });
    // Within a few rounds (100 ms each), not a lease more (it waited 1.56 s before).
    expect(performance.now() - claimedAt).toBeLessThan(LEASE_MS * 0.7);
  });
});
