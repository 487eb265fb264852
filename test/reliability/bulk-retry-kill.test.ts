import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertBulkTasks } from '../helpers/bulk-tasks.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { describeProcess, killHard, rssMiB } from '../helpers/reliability-processes.js';
import { spawnTaskwire, type TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';

// Issue 15: a bulk retry of 100,000 FAILED tasks, its runner's worker process SIGKILLed mid-way
// and another started: each task retried exactly once (one RETRIED event), the action DONE with
// exact counts, and the runner's memory bounded (it never holds the set: one batch's parameters).
const TOTAL = Number(process.env.BULK_TASKS ?? 100_000);
const KILL_AT = Math.floor(TOTAL * 0.3);

let app: QueueTestApp;
const processes: TaskwireProcess[] = [];
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await Promise.all(processes.map((p) => killHard(p)));
  await app.close();
});

/**
 * `taskwire worker` whose task runner claims from a queue nobody uses (the retried tasks stay
 * PENDING, so the machine does only the bulk action); its maintenance runs the bulk-action runner.
 */
async function startWorker(): Promise<TaskwireProcess> {
  const p = spawnTaskwire(['worker', '--queues', 'bulk-test-idle'], { DATABASE_URL: app.database.url, LOG_LEVEL: 'info', DB_POOL_SIZE: '4' });
  processes.push(p);
  await p.waitForLog((l) => l.msg === 'taskwire ready', 60_000).catch((error: unknown) => {
    throw new Error(`worker did not start: ${String(error)}\n${describeProcess(p as never)}`);
  });
  return p;
}

const progressOf = async (id: string): Promise<{ status: string; processed: number; changed: number; matched: number }> => {
  const [row] = await app.sql`SELECT status, processed, changed, matched FROM bulk_actions WHERE id = ${id}`;
  return { status: String(row?.status), processed: Number(row?.processed), changed: Number(row?.changed), matched: Number(row?.matched) };
};

/** Samples a process's RSS every 100 ms until stopped; the samples in MiB. */
function sampleRss(p: TaskwireProcess): { samples: number[]; stop(): void } {
  const samples: number[] = [];
  const timer = setInterval(() => {
    // A process being killed has no VmRSS left (NaN): not a sample.
    if (p.child.pid && p.child.exitCode === null && p.child.signalCode === null) {
      void rssMiB(p.child.pid).then((mib) => (Number.isFinite(mib) ? samples.push(mib) : undefined), () => undefined);
    }
  }, 100);
  return { samples, stop: () => clearInterval(timer) };
}

describe('a bulk retry with its worker SIGKILLed mid-way', () => {
  it(`retries each of ${TOTAL} FAILED tasks exactly once, ends DONE, with the runner's memory bounded`, { timeout: 180_000 }, async () => {
    const t0 = performance.now();
    await insertBulkTasks(app.sql, { count: TOTAL, status: 'FAILED', name: 'demo.echo' });
    const inserted = performance.now();
    const first = await startWorker();
    const firstRss = sampleRss(first);

    const action = await app.deps.queue.bulkActions.create('RETRY', { status: ['FAILED'] });
    const created = performance.now();
    expect(action.matched).toBe(TOTAL);

    const atKill = await waitFor(async () => {
      const p = await progressOf(action.id);
      return p.processed >= KILL_AT ? p : undefined;
    }, { timeoutMs: 60_000, intervalMs: 10, message: `${KILL_AT} tasks processed` });
    await killHard(first);
    firstRss.stop();
    const killedAt = performance.now();
    const afterKill = await progressOf(action.id);
    expect(afterKill.status).toBe('RUNNING');

    const second = await startWorker();
    const secondRss = sampleRss(second);
    const done = await waitFor(async () => {
      const p = await progressOf(action.id);
      return p.status !== 'RUNNING' ? p : undefined;
    }, { timeoutMs: 90_000, intervalMs: 50, message: 'the action to end' });
    const finished = performance.now();
    secondRss.stop();

    expect(done).toEqual({ status: 'DONE', matched: TOTAL, processed: TOTAL, changed: TOTAL });
    const [events] = await app.sql`
      SELECT count(*)::int AS tasks, count(*) FILTER (WHERE n <> 1)::int AS not_once
      FROM (SELECT task_id, count(*) AS n FROM task_events WHERE type = 'RETRIED' GROUP BY task_id) per_task`;
    expect(events).toEqual({ tasks: TOTAL, notOnce: 0 });
    const [left] = await app.sql`SELECT count(*) FILTER (WHERE status = 'PENDING')::int AS pending, count(*)::int AS total FROM tasks`;
    expect(left).toEqual({ pending: TOTAL, total: TOTAL });
    const [targets] = await app.sql`SELECT count(*)::int AS n FROM bulk_action_tasks`;
    expect(targets?.n).toBe(0);

    // Bounded: after its first batches a runner's RSS hardly grows, however many tasks follow.
    const growth = (samples: number[]): number => (samples.length < 4 ? 0 : Math.max(...samples.slice(3)) - (samples[3] ?? 0));
    const figures = {
      tasks: TOTAL,
      insertMs: Math.round(inserted - t0),
      createMs: Math.round(created - inserted),
      killedAtProcessed: atKill.processed,
      committedWhenKilled: afterKill.processed,
      firstRunnerMs: Math.round(killedAt - created),
      resumeToDoneMs: Math.round(finished - killedAt),
      rssFirstMaxMiB: Math.max(0, ...firstRss.samples),
      rssSecondMaxMiB: Math.max(0, ...secondRss.samples),
      rssGrowthMiB: Math.max(growth(firstRss.samples), growth(secondRss.samples)),
    };
    console.log(`[bulk-retry-kill] ${JSON.stringify(figures)}`);
    expect(secondRss.samples.length).toBeGreaterThan(3);
    expect(figures.rssGrowthMiB).toBeLessThan(64);
  });
});
