import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXECUTIONS_TABLE_SQL, hangFirst, nap, record } from '../helpers/child-tasks.js';
import { startChildWorker, type ChildWorker } from '../helpers/child-workers.js';
import { createQueueTestApp, waitForStatus, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// Workers as real, separate processes sharing one database: drain, crash, graceful stop.
let app: QueueTestApp;
let children: ChildWorker[] = [];
beforeAll(async () => {
  app = await createQueueTestApp({}, [record, hangFirst, nap]);
  await app.sql.unsafe(EXECUTIONS_TABLE_SQL);
});
afterAll(async () => {
  await app.close();
});
afterEach(async () => {
  // A child left running would outlive the test run: kill what a failed test left behind.
  await Promise.all(children.map((c) => (c.child.exitCode === null && c.child.signalCode === null ? c.kill() : undefined)));
  children = [];
  await app.stopRunners();
  await app.sql`DELETE FROM tasks`;
});

async function startWorkers(count: number, env: Record<string, string>): Promise<ChildWorker[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startChildWorker(app.database.url, env)));
  children.push(...started);
  return started;
}

describe('worker processes', () => {
  it('drain 5,000 tasks across 4 processes, each task run exactly once', async () => {
    const total = 5000;
    const workers = await startWorkers(4, { WORKER_CONCURRENCY: '50', DB_POOL_SIZE: '6', WORKER_POLL_INTERVAL_MS: '250' });
    const started = performance.now();
    await app.deps.queue.enqueueMany(Array.from({ length: total }, () => ({ name: 'child.record' })));
    await waitFor(
      async () => {
        const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'SUCCEEDED'`;
        return row?.n === total;
      },
      { timeoutMs: 60_000, intervalMs: 25, message: `${total} tasks to succeed` },
    );
    const ms = performance.now() - started;
    console.log(`drain 5000 tasks / 4 processes: ${Math.round(ms)} ms (${Math.round((total / ms) * 1000)} tasks/s)`);

    // Every task ran exactly once: one execution row each, by the worker that holds it.
    const [runs] = await app.sql`
      SELECT count(*)::int AS executions, count(DISTINCT e.task_id)::int AS tasks,
             count(*) FILTER (WHERE t.worker_ids = ARRAY[e.worker_id] AND t.attempts = 1 AND e.attempt = 1)::int AS consistent
      FROM executions e JOIN tasks t ON t.id = e.task_id`;
    expect(runs).toEqual({ executions: total, tasks: total, consistent: total });
    const [bad] = await app.sql`
      SELECT count(*)::int AS n FROM tasks
      WHERE status <> 'SUCCEEDED' OR attempts <> 1 OR cardinality(worker_ids) <> 1 OR errors <> '[]'::jsonb OR return_value_json::jsonb IS DISTINCT FROM '1'::jsonb`;
    expect(bad?.n).toBe(0);
    // Work was shared: every process ran some.
    const perWorker = await app.sql`SELECT worker_id, count(*)::int AS n FROM executions GROUP BY worker_id`;
    expect(perWorker.map((r) => r.workerId).sort()).toEqual(workers.map((w) => w.workerId).sort());

    const stops = await Promise.all(workers.map((w) => w.stop()));
    expect(stops.map((s) => s.code)).toEqual([0, 0, 0, 0]);
    expect(stops.reduce((sum, s) => sum + s.finished, 0)).toBe(total);
  });

  it('recovers the tasks of a SIGKILLed worker: rescued with WorkerLost naming it, finished by another', async () => {
    const [doomed] = await startWorkers(1, { LEASE_MS: '1000', HEARTBEAT_MS: '200', WORKER_POLL_INTERVAL_MS: '50' });
    if (!doomed) throw new Error('no worker');
    const tasks = await app.deps.queue.enqueueMany(
      Array.from({ length: 3 }, () => ({ name: 'child.hang-first', maxAttempts: 2, backoff: { baseMs: 10, jitter: 0 } })),
    );
    for (const t of tasks) expect((await waitForStatus(app.deps, t.id, 'RUNNING')).lockedBy).toBe(doomed.workerId);
    await doomed.kill();

    // Its leases run out about a second after the last heartbeat; the rescuer takes them back.
    const rescued = new Set<string>();
    await waitFor(
      async () => {
        for (const t of await app.deps.rescuer.runOnce()) rescued.add(t.id);
        return rescued.size === tasks.length;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'the rescuer to take back every task' },
    );
    const survivor = app.runner({ pollIntervalMs: 20 });
    await survivor.start();
    for (const t of tasks) {
      const done = await waitForStatus(app.deps, t.id, 'SUCCEEDED');
      expect(done).toMatchObject({
        attempts: 2,
        workerIds: [doomed.workerId, survivor.workerId],
        returnValue: { recoveredBy: survivor.workerId, attempt: 2 },
      });
      expect(done.errors).toHaveLength(1);
      expect(done.errors[0]).toMatchObject({ exceptionType: 'WorkerLost', attempt: 1, workerId: doomed.workerId });
      expect(done.errors[0]?.message).toContain(doomed.workerId);
    }
  });

  it('on SIGTERM finishes a running task within the grace period, then exits promptly by itself', async () => {
    const [worker] = await startWorkers(1, { SHUTDOWN_GRACE_MS: '30000' });
    if (!worker) throw new Error('no worker');
    const task = await app.deps.queue.enqueue({ name: 'child.nap', args: [400] });
    await waitForStatus(app.deps, task.id, 'RUNNING');
    // No process.exit in the child: it ends only when nothing (timer, socket) is left open.
    const stopped = await worker.stop(8000);
    expect(stopped).toMatchObject({ code: 0, finished: 1 });
    expect(stopped.ms).toBeLessThan(8000);
    expect(await app.deps.queue.getTask(task.id)).toMatchObject({ status: 'SUCCEEDED', returnValue: { napped: 400 } });
  });

  it('on SIGTERM releases a task that outlasts the grace period, as PENDING for another worker', async () => {
    const [worker] = await startWorkers(1, { SHUTDOWN_GRACE_MS: '100' });
    if (!worker) throw new Error('no worker');
    const task = await app.deps.queue.enqueue({ name: 'child.nap', args: [60_000] });
    await waitForStatus(app.deps, task.id, 'RUNNING');
    const stopped = await worker.stop(8000);
    expect(stopped.code).toBe(0);
    expect(await app.deps.queue.getTask(task.id)).toMatchObject({ status: 'PENDING', attempts: 0, workerIds: [], lockedBy: null });
  });
});
