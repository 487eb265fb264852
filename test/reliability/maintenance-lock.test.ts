import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { deleteExpiredTasks } from '../../src/queue/sql/delete-expired-tasks.js';
import { rescueTasks } from '../../src/queue/sql/rescue-tasks.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';

// The maintenance loops no longer hold a reserved connection (a connection the database
// closes under a reserved or transaction handle crashes the process with postgres.js 3.4.9,
// see periodic.ts): each statement takes its service's advisory lock itself, for its own
// duration. While another session holds the lock the statement does nothing.
const LOCK = 0x7a5c_1e99;
let app: QueueTestApp;
let holder: postgres.Sql;
beforeAll(async () => {
  app = await createQueueTestApp();
  holder = postgres(app.database.url, { max: 1, onnotice: () => undefined });
});
afterAll(async () => {
  await holder.end();
  await app.close();
});

/** Runs `fn` while another session holds the advisory lock `LOCK`. */
async function whileLocked<T>(fn: () => Promise<T>): Promise<T> {
  const session = await holder.reserve();
  await session`SELECT pg_advisory_lock(${LOCK})`;
  try {
    return await fn();
  } finally {
    await session`SELECT pg_advisory_unlock(${LOCK})`;
    session.release();
  }
}

describe('rescueTasks and deleteExpiredTasks with a lock key', () => {
  it('do nothing while another session holds the lock, and their work once it is free; the lock is not kept', async () => {
    const task = await app.deps.queue.enqueue({ name: 'demo.echo', maxAttempts: 2, backoff: { baseMs: 3_600_000 } });
    await claimTasks(app.sql, { workerId: 'ghost', limit: 1, queues: [], leaseMs: 1 });
    const later = new Date(Date.now() + 60_000);
    const params = { now: later, limit: 10, defaultTtlMs: 1000, lockKey: LOCK };

    expect(await whileLocked(() => rescueTasks(app.sql, params))).toEqual([]);
    expect((await app.deps.queue.getTask(task.id))?.status).toBe('RUNNING');
    const [rescued] = await rescueTasks(app.sql, params);
    expect(rescued).toMatchObject({ id: task.id, status: 'RETRYING' });

    await app.deps.queue.cancelTask(task.id); // finished: kept for RESULT_TTL_MS (a day)
    const expired = { now: new Date(Date.now() + 3 * 86_400_000), limit: 10, lockKey: LOCK };
    expect((await whileLocked(() => deleteExpiredTasks(app.sql, expired))).count).toBe(0);
    expect((await deleteExpiredTasks(app.sql, expired)).count).toBe(1);

    // Transaction-scoped: gone with each statement's commit, nothing left held.
    const [held] = await app.sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ${LOCK}`;
    expect(held?.n).toBe(0);
  });
});
