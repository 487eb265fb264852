import { M } from '../lib/metrics.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { freshDatabase } from '../lib/pg.js';
import { percentiles } from '../lib/stats.js';
import { delay, ExecutionCounter, range, waitUntil } from '../lib/wait.js';
import { openSystem } from '../systems/index.js';
import type { QueueSystem } from '../systems/types.js';

/** Runs `body` `job.repeat` times, each against a fresh copy of the system's template. */
export async function eachRepetition(
  job: ChildJob,
  body: (system: QueueSystem, url: string, rep: number) => Promise<void>,
): Promise<void> {
  for (let rep = 1; rep <= job.repeat; rep++) {
    const db = await freshDatabase(job.adminUrl, job.template);
    const system = await openSystem(job.system, db.url);
    try {
      await body(system, db.url, rep);
    } finally {
      await system.close();
      await db.drop();
    }
  }
}

/**
 * (a) drain: `drainTasks` jobs bulk-enqueued into an idle database, then the clock runs
 * from starting the worker until every job ran exactly once and the database holds no
 * unfinished job (completions are committed, not just handled).
 */
export async function drainScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const n = job.sizes.drainTasks;
  await eachRepetition(job, async (system, _url, rep) => {
    rec.add(M.drainRate, 'jobs/s', await drainOnce(system, n));
    // The log's growth: every event of every drained task, with both its indexes (taskwire only).
    const log = await system.eventLogSize?.();
    if (log) {
      rec.add(M.eventLogBytesPerTask, 'bytes', log.bytes / n);
      rec.add('task_events bytes per event', 'bytes', log.bytes / log.events);
      // Same text every repetition, so the run lists it once.
      if (rep === 1) rec.notes.push(`drain: task_events holds ${(log.events / n).toFixed(2)} events per drained task (bytes: heap, both indexes, TOAST)`);
    }
  });
}

/** Enqueues `n` jobs in bulk, drains them, returns the drain rate in jobs/s. */
export async function drainOnce(system: QueueSystem, n: number): Promise<number> {
  const added = await system.enqueueMany(range(0, n));
  if (added !== n) throw new Error(`bulk enqueue added ${added} of ${n}`);
  const runs = new ExecutionCounter();
  const t0 = performance.now();
  await system.startWorker((id) => runs.record(id));
  await runs.waitForDistinct(n, 60_000 + n * 5);
  await waitUntil(async () => (await system.unfinished()) === 0, {
    timeoutMs: 60_000,
    intervalMs: 2,
    what: 'the last completions to commit',
  });
  const seconds = (performance.now() - t0) / 1000;
  runs.assertExactlyOnce(n, 'drain');
  await system.stopWorker();
  return n / seconds;
}

export interface LatencySamples {
  /** enqueue call → the call resolved (the job committed), ms, per task. */
  enqueued: number[];
  /** enqueue call → handler start, ms, per task. */
  start: number[];
  /** enqueue call → completion committed (seen by a listener), ms, per task. */
  finished: number[];
}

/**
 * Enqueues `count` jobs one at a time, `gapMs` apart, into an idle, already started
 * worker; times enqueue → handler start and enqueue → completion committed.
 * A short warm-up (not measured) opens pool connections and warms the JIT first.
 */
export async function measureLatency(system: QueueSystem, count: number, gapMs: number): Promise<LatencySamples> {
  const startedAt = new Map<number, number>();
  const finishedAt = new Map<string, number>();
  const runs = new ExecutionCounter();
  await system.watchFinished((id) => finishedAt.set(id, performance.now()));
  await system.startWorker((id, seq) => {
    startedAt.set(seq, performance.now());
    runs.record(id);
  });
  await delay(300); // the worker's first (empty) fetch and its LISTEN settle
  const warmUp = 20;
  const ids: string[] = [];
  const enqueuedAt: number[] = [];
  const returnedAt: number[] = [];
  const total = warmUp + count;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    // Absolute schedule, so a slow enqueue does not shift the rest.
    const wait = t0 + i * gapMs - performance.now();
    if (wait > 0) await delay(wait);
    enqueuedAt.push(performance.now());
    ids.push(await system.enqueue(i));
    returnedAt.push(performance.now());
  }
  await waitUntil(() => ids.every((id) => finishedAt.has(id)), { timeoutMs: 30_000, what: 'every completion to be seen' });
  runs.assertExactlyOnce(total, 'latency');
  await system.stopWorker();
  const samples: LatencySamples = { enqueued: [], start: [], finished: [] };
  for (let i = warmUp; i < total; i++) {
    samples.enqueued.push((returnedAt[i] as number) - (enqueuedAt[i] as number));
    samples.start.push((startedAt.get(i) as number) - (enqueuedAt[i] as number));
    samples.finished.push((finishedAt.get(ids[i] as string) as number) - (enqueuedAt[i] as number));
  }
  return samples;
}

/** (b) latency on an idle worker: p50/p95/p99 of enqueue → start and enqueue → finished. */
export async function latencyScenario(job: ChildJob, rec: Recorder): Promise<void> {
  await eachRepetition(job, async (system) => {
    recordLatency(rec, '', await measureLatency(system, job.sizes.latencyTasks, job.sizes.latencyGapMs));
  });
}

export function recordLatency(rec: Recorder, prefix: string, s: LatencySamples): void {
  const enqueued = percentiles(s.enqueued);
  rec.add(`${prefix}enqueue call p50`, 'ms', enqueued.p50);
  rec.add(`${prefix}enqueue call p99`, 'ms', enqueued.p99);
  const start = percentiles(s.start);
  const finished = percentiles(s.finished);
  rec.add(`${prefix}${M.startP50}`, 'ms', start.p50);
  rec.add(`${prefix}enqueue→start p95`, 'ms', start.p95);
  rec.add(`${prefix}${M.startP99}`, 'ms', start.p99);
  rec.add(`${prefix}${M.finishedP50}`, 'ms', finished.p50);
  rec.add(`${prefix}enqueue→finished p95`, 'ms', finished.p95);
  rec.add(`${prefix}enqueue→finished p99`, 'ms', finished.p99);
}
