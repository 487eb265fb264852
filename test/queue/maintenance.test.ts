import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { getTask } from '../../src/queue/get.js';
import { autoExplain } from '../../bench/lib/auto-explain.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { deleteExpiredTasks } from '../../src/queue/sql/delete-expired-tasks.js';
import { blocksOf, planNodes } from '../helpers/explained-plans.js';
import { countTasks, createQueueTestApp, waitForStatus, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp({ RESULT_TTL_MS: '60000' });
});
afterAll(async () => {
  await app.close();
});
afterEach(async () => {
  await app.stopRunners();
  await app.sql`DELETE FROM tasks`;
});

const inMs = (ms: number): Date => new Date(Date.now() + ms);

describe('cleaner.runOnce', () => {
  it('deletes finished tasks whose retention ran out, and keeps the rest', async () => {
    const [short, long, failed, cancelled] = await app.deps.queue.enqueueMany([
      { name: 'demo.echo', resultTtlMs: 1000 },
      { name: 'demo.echo', resultTtlMs: 10 * 86_400_000 },
      { name: 'demo.fail' }, // the default retention (60 s here)
      { name: 'demo.echo', runAfter: inMs(3_600_000) },
    ]);
    if (!short || !long || !failed || !cancelled) throw new Error('enqueueMany lost a task');
    const pending = await app.deps.queue.enqueue({ name: 'demo.echo', runAfter: inMs(3_600_000) });
    await app.deps.queue.cancelTask(cancelled.id);
    await app.runner().start();
    await waitForStatus(app.deps, short.id, 'SUCCEEDED');
    await waitForStatus(app.deps, long.id, 'SUCCEEDED');
    const failedTask = await waitForStatus(app.deps, failed.id, 'FAILED');
    await app.stopRunners();
    expect(failedTask.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 50_000);

    expect(await app.deps.cleaner.runOnce()).toBe(0); // nothing has expired yet
    expect(await app.deps.cleaner.runOnce(inMs(5000))).toBe(1); // only `short`
    expect(await app.deps.queue.getTask(short.id)).toBeUndefined();
    expect(await app.deps.cleaner.runOnce(inMs(120_000))).toBe(2); // failed and cancelled, default retention
    const left = (await app.deps.queue.getTasks([long.id, pending.id, failed.id, cancelled.id])).map((t) => t.id);
    expect(left.sort()).toEqual([long.id, pending.id].sort());
    // A task that never finished is never deleted, however far the clock moves.
    expect(await app.deps.cleaner.runOnce(inMs(100 * 86_400_000))).toBe(1);
    expect((await app.deps.queue.getTask(pending.id))?.status).toBe('PENDING');
  });

  it('deletes a backlog larger than one batch', async () => {
    await app.deps.queue.enqueueMany(Array.from({ length: 2500 }, () => ({ name: 'demo.echo', runAfter: inMs(3_600_000) })));
    await app.sql`UPDATE tasks SET status = 'SUCCEEDED', finished_at = now(), expires_at = now()`;
    expect(await app.deps.cleaner.runOnce(inMs(1000))).toBe(2500);
    expect(await countTasks(app.sql)).toBe(0);
  });
});

describe('deleteExpiredTasks', () => {
  it('starts a batch where the last one ended, not at the index entries of the rows earlier batches deleted', async () => {
    // The dead entries must stay until the end: no autovacuum of tasks meanwhile.
    await app.sql`ALTER TABLE tasks SET (autovacuum_enabled = false)`;
    onTestFinished(() => app.sql`ALTER TABLE tasks RESET (autovacuum_enabled)`.then(() => undefined));
    await app.deps.queue.enqueueMany(Array.from({ length: 4000 }, () => ({ name: 'demo.echo', runAfter: inMs(3_600_000) })));
    // Expired one after the other, a millisecond apart, as a backlog is.
    await app.sql`
      UPDATE tasks SET status = 'SUCCEEDED', finished_at = now(), expires_at = now() - interval '1 hour' + n * interval '1 millisecond'
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM tasks) o WHERE o.id = tasks.id`;
    const now = inMs(1000);
    let from: string | null = null;
    for (let i = 0; i < 3; i++) {
      const batch = await deleteExpiredTasks(app.sql, { now, limit: 1000, from });
      expect(batch.count).toBe(1000);
      from = batch.last;
    }
    // The fourth batch, with and without where the third ended (each rolled back): the same rows,
    // but without it the scan passes the 3,000 entries of the rows already deleted (dead until a vacuum).
    // The blocks the walk of tasks_expires_idx touched (the index and the heap rows it looked at).
    const blocks = async (start: string | null): Promise<number> => {
      const plans = await autoExplain(app.database.url, (c) => deleteExpiredTasks(c, { now, limit: 1000, from: start }), { buffers: true });
      return blocksOf(planNodes(plans.at(-1)?.plan).find((n) => n['Index Name'] === 'tasks_expires_idx'));
    };
    // Each twice, alternating: the first walk past dead entries marks them (hint bits), which the next ones profit by.
    const runs = [await blocks(null), await blocks(from), await blocks(null), await blocks(from)];
    expect(runs[1]).toBeLessThan(runs[0]!);
    expect(runs[3]).toBeLessThan(runs[2]!);
    expect(await deleteExpiredTasks(app.sql, { now, limit: 1000, from })).toEqual({ count: 1000, last: expect.any(String) });
    expect(await countTasks(app.sql)).toBe(0);
  });
});

describe('rescuer.runOnce', () => {
  it('ends a lost task whose cancellation was requested as CANCELLED', async () => {
    const task = await app.deps.queue.enqueue({ name: 'demo.echo', maxAttempts: 3 });
    await claimTasks(app.sql, { workerId: 'ghost', limit: 1, queues: [], leaseMs: 1000 });
    await app.deps.queue.cancelTask(task.id);
    const [rescued] = await app.deps.rescuer.runOnce(inMs(60_000));
    expect(rescued).toMatchObject({ id: task.id, status: 'CANCELLED', attempts: 1 });
    expect(rescued?.errors.map((e) => e.exceptionType)).toEqual(['WorkerLost']);
  });

  it('delays the retry of a lost task by its backoff', async () => {
    const task = await app.deps.queue.enqueue({ name: 'demo.echo', maxAttempts: 2, backoff: { baseMs: 10_000, jitter: 0 } });
    await claimTasks(app.sql, { workerId: 'ghost', limit: 1, queues: [], leaseMs: 1000 });
    const now = inMs(60_000);
    const [rescued] = await app.deps.rescuer.runOnce(now);
    expect(rescued?.status).toBe('RETRYING');
    // Jitter of the rescuer is ±25 % whatever the task says; the delay stays within it.
    const delay = (rescued?.runAfter.getTime() ?? 0) - now.getTime();
    expect(delay).toBeGreaterThanOrEqual(7500);
    expect(delay).toBeLessThanOrEqual(12_500);
    expect(rescued?.errors[0]?.at.getTime()).toBe(now.getTime());
  });

  it('rescues more lost tasks than one batch', async () => {
    await app.deps.queue.enqueueMany(Array.from({ length: 1200 }, () => ({ name: 'demo.echo' })));
    await claimTasks(app.sql, { workerId: 'ghost', limit: 5000, queues: [], leaseMs: 1000 });
    expect(await app.deps.rescuer.runOnce(inMs(60_000))).toHaveLength(1200);
    const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'FAILED'`;
    expect(row?.n).toBe(1200);
  });
});

describe('rescuer.start', () => {
  it('rescues lost tasks on its own, even when the pool has a single connection', async () => {
    // A short lease: the periodic rescuer takes no lease as lost until the database has been up one
    // LEASE_MS (a restart's grace), and this file may run within 30 s of the test database's start.
    const small = await createQueueTestApp({ DB_POOL_SIZE: '1', MAINTENANCE_INTERVAL_MS: '100', LEASE_MS: '1000', HEARTBEAT_MS: '300' });
    try {
      // Set up and check through the test database's own pool, not the one under test.
      const other = small.database.db.sql;
      const task = await small.deps.queue.enqueue({ name: 'demo.echo', maxAttempts: 2, backoff: { baseMs: 3_600_000 } });
      await claimTasks(other, { workerId: 'ghost', limit: 1, queues: [], leaseMs: 1 });
      await small.deps.rescuer.start();
      try {
        const rescued = await waitFor(async () => {
          const t = await getTask(other, task.id);
          return t?.status === 'RETRYING' ? t : undefined;
        }, { timeoutMs: 5000, message: 'the periodic rescuer to take the task back' });
        expect(rescued.errors.map((e) => e.workerId)).toEqual(['ghost']);
      } finally {
        await small.deps.rescuer.stop();
      }
    } finally {
      await small.close();
    }
  });
});
