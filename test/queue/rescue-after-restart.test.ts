import { describe, expect, it } from 'vitest';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { rescueTasks } from '../../src/queue/sql/rescue-tasks.js';
import { useQueueTestApp } from '../helpers/factories.js';

// A database that was down for longer than a lease: no worker could renew meanwhile, so every
// lease that ran out during the outage looks lost the moment it is back, though the workers are
// alive. The rescuer waits a lease after the database started before it takes any as lost.
const env = useQueueTestApp();
const LEASE_MS = 30_000;

/** A task RUNNING under `workerId` whose lease ran out while the database was down: at the moment it started again. */
async function leaseRanOutAtStart(workerId: string): Promise<{ id: string; started: Date }> {
  const [task] = await env.app.deps.queue.enqueueMany([{ name: 'test.record', maxAttempts: 1 }]);
  await claimTasks(env.app.sql, { workerId, limit: 1, queues: [], leaseMs: LEASE_MS, freeSlots: 1 });
  const [row] = await env.app.sql`SELECT pg_postmaster_start_time() AS started`;
  const started = row!.started as Date;
  await env.app.sql`UPDATE tasks SET lease_expires_at = ${started} WHERE id = ${task!.id}`;
  return { id: task!.id, started };
}

describe('rescueTasks after a restart of the database', () => {
  it('takes no lease as lost until the database has been up restartGraceMs, then takes it as before', async () => {
    const { id, started } = await leaseRanOutAtStart('alive-w');
    const rescue = (afterStartMs: number, restartGraceMs: number | null) =>
      rescueTasks(env.app.sql, { now: new Date(started.getTime() + afterStartMs), limit: 10, defaultTtlMs: 60_000, restartGraceMs });

    // A second after the start: the worker has not had its heartbeat yet.
    expect(await rescue(1_000, LEASE_MS)).toEqual([]);
    expect(await rescue(LEASE_MS - 1_000, LEASE_MS)).toEqual([]);
    expect((await env.app.deps.queue.getTask(id))?.status).toBe('RUNNING');
    // Without the wait (an explicit pass) or a lease after the start, the lease is lost as before.
    const rescued = await rescue(LEASE_MS + 1_000, LEASE_MS);
    expect(rescued.map((t) => [t.id, t.status])).toEqual([[id, 'FAILED']]);
  });

  it('an explicit pass (no wait) rescues at once', async () => {
    const { id, started } = await leaseRanOutAtStart('lost-w');
    const rescued = await rescueTasks(env.app.sql, { now: new Date(started.getTime() + 1_000), limit: 10, defaultTtlMs: 60_000, restartGraceMs: null });
    expect(rescued.map((t) => t.id)).toEqual([id]);
  });
});
