import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nap } from '../helpers/child-tasks.js';
import { startChildWorker, type ChildWorker } from '../helpers/child-workers.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// Flow control across 8 worker processes (issue 15, docs/flow-control.md): a concurrency limit
// sampled from the database every 10 ms is never exceeded, a rate limit starts within ±5 % of its
// max in every window, and a pause holds through a restart of every process.
// FLOW_CONTROL_FULL=1 runs the full size (20,000 tasks, about 3.5 minutes).
const FULL = process.env.FLOW_CONTROL_FULL === '1';
const CONCURRENCY_TASKS = FULL ? 10_000 : 1_200;
const RATE_TASKS = FULL ? 10_000 : 400;
const PROCESSES = 8;
const WORKER_ENV = { WORKER_CONCURRENCY: '10', DB_POOL_SIZE: '4', WORKER_POLL_INTERVAL_MS: '250' };

let app: QueueTestApp;
let children: ChildWorker[] = [];
beforeAll(async () => {
  app = await createQueueTestApp({}, [nap]);
});
afterAll(async () => {
  await app.close();
});
afterEach(async () => {
  await Promise.all(children.map((c) => (c.child.exitCode === null && c.child.signalCode === null ? c.kill() : undefined)));
  children = [];
});

async function startWorkers(): Promise<void> {
  children.push(...(await Promise.all(Array.from({ length: PROCESSES }, () => startChildWorker(app.database.url, WORKER_ENV, 60_000)))));
}

async function stopWorkers(): Promise<void> {
  await Promise.all(children.map((c) => c.stop(30_000)));
  children = [];
}

async function count(where: 'SUCCEEDED' | 'started', queue: string): Promise<number> {
  const [row] = where === 'started'
    ? await app.sql`SELECT count(*)::int AS n FROM tasks WHERE queue = ${queue} AND (started_at IS NOT NULL OR status <> 'PENDING')`
    : await app.sql`SELECT count(*)::int AS n FROM tasks WHERE queue = ${queue} AND status = 'SUCCEEDED'`;
  return Number(row?.n);
}

/** Proof that every worker has claimed since `since`: a task per process in an open queue, all run. */
async function workersHaveClaimed(): Promise<void> {
  const probes = await app.deps.queue.enqueueMany(Array.from({ length: PROCESSES * 3 }, () => ({ name: 'child.nap', args: [1], queue: 'probe' })));
  await waitFor(async () => {
    const tasks = await app.deps.queue.getTasks(probes.map((t) => t.id));
    return tasks.every((t) => t.status === 'SUCCEEDED');
  }, { timeoutMs: 30_000, message: 'probe tasks to run' });
}

describe('flow control across 8 worker processes', () => {
  it('a pause holds through a full restart of every process; resume starts the queue', async () => {
    await app.deps.queue.queueControl.pause('paused-q');
    await app.deps.queue.enqueueMany(Array.from({ length: 200 }, () => ({ name: 'child.nap', args: [1], queue: 'paused-q' })));
    await startWorkers();
    await workersHaveClaimed();
    expect(await count('started', 'paused-q')).toBe(0);
    await stopWorkers();
    await startWorkers();
    await workersHaveClaimed();
    expect(await count('started', 'paused-q')).toBe(0);
    const [reason] = await app.deps.queue.queueControl.waitReasons([{ queue: 'paused-q', status: 'PENDING', runAfter: new Date(0), concurrencyKey: null }]);
    expect(reason).toBe('QUEUE_PAUSED');
    await app.deps.queue.queueControl.resume('paused-q');
    await waitFor(async () => (await count('SUCCEEDED', 'paused-q')) === 200, { timeoutMs: 30_000, message: 'the resumed queue to drain' });

    // Paused while draining: claimed-ahead tasks go back, and no start comes long after the pause commits.
    await app.deps.queue.enqueueMany(Array.from({ length: 3000 }, () => ({ name: 'child.nap', args: [2], queue: 'paused-q' })));
    await waitFor(async () => (await count('SUCCEEDED', 'paused-q')) > 400, { timeoutMs: 30_000, message: 'the drain to be under way' });
    const paused = await app.deps.queue.queueControl.pause('paused-q');
    await waitFor(async () => {
      const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE queue = 'paused-q' AND status = 'RUNNING'`;
      return row?.n === 0;
    }, { timeoutMs: 30_000, message: 'the paused queue to stop running' });
    const [last] = await app.sql`SELECT max(last_attempted_at) AS at FROM tasks WHERE queue = 'paused-q'`;
    const lateMs = (last?.at as Date).getTime() - (paused.pausedAt as Date).getTime();
    console.log(`pause → last start: ${lateMs} ms`);
    expect(lateMs).toBeLessThan(500);
    const [released] = await app.sql`SELECT count(*)::int AS n FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE t.queue = 'paused-q' AND e.type = 'RELEASED'`;
    console.log(`claimed-ahead tasks handed back on pause: ${released?.n}`);
    await stopWorkers();
  }, 180_000);

  it(`never runs more than 5 at once in a limited queue, and 50 per second in a rate-limited one (${CONCURRENCY_TASKS + RATE_TASKS} tasks)`, async () => {
    await app.deps.queue.queueControl.setLimits('c5', { concurrency: 5 });
    await app.deps.queue.queueControl.setLimits('r50', { rateLimit: { max: 50, perMs: 1000 } });
    await app.deps.queue.enqueueMany(Array.from({ length: CONCURRENCY_TASKS }, () => ({ name: 'child.nap', args: [2], queue: 'c5' })));
    await startWorkers();
    // Enqueued once every process is up: windows during 8 processes' start-up measure the machine, not the limit.
    await app.deps.queue.enqueueMany(Array.from({ length: RATE_TASKS }, () => ({ name: 'child.nap', args: [1], queue: 'r50' })));

    // Sample the RUNNING count of c5 every 10 ms, from the database, until both queues are done.
    const sampler = app.sql.reserve();
    const conn = await sampler;
    let samples = 0;
    let over = 0;
    let highest = 0;
    let done = false;
    const sampling = (async () => {
      while (!done) {
        const began = Date.now();
        const [row] = await conn`SELECT count(*)::int AS n FROM tasks WHERE queue = 'c5' AND status = 'RUNNING'`;
        const n = Number(row?.n);
        samples += 1;
        highest = Math.max(highest, n);
        if (n > 5) over += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10 - (Date.now() - began))));
      }
    })();
    try {
      await waitFor(
        async () => (await count('SUCCEEDED', 'c5')) === CONCURRENCY_TASKS && (await count('SUCCEEDED', 'r50')) === RATE_TASKS,
        { timeoutMs: FULL ? 400_000 : 120_000, intervalMs: 200, message: 'both limited queues to drain' },
      );
    } finally {
      done = true;
      await sampling;
      conn.release();
    }
    console.log(`c5: ${samples} samples, highest ${highest}, over the limit ${over}`);
    expect(samples).toBeGreaterThan(100);
    expect(over).toBe(0);
    expect(highest).toBe(5);

    // Starts per 1-second window (the windows the limit counts in: floor(epoch ms / 1000)).
    const windows = await app.sql`
      SELECT floor(extract(epoch FROM started_at) * 1000 / 1000)::bigint AS w, count(*)::int AS n
      FROM tasks WHERE queue = 'r50' GROUP BY 1 ORDER BY 1`;
    const counts = windows.map((r) => Number(r.n));
    console.log(`r50 starts per window: ${counts.join(' ')}`);
    expect(Math.max(...counts)).toBeLessThanOrEqual(50);
    // Every window between the first and the last (both partial) started 50 ± 5 %.
    for (const n of counts.slice(1, -1)) expect(n).toBeGreaterThanOrEqual(48);
    expect(counts.length).toBeGreaterThanOrEqual(Math.floor(RATE_TASKS / 50));
    await stopWorkers();
  }, FULL ? 600_000 : 240_000);
});
