import { M } from '../lib/metrics.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { range } from '../lib/wait.js';
import { eachRepetition } from './worker.js';

/** Opens every pool connection and warms the enqueue path before the clock starts. */
async function warmUp(enqueue: (seq: number) => Promise<unknown>, producers: number): Promise<number> {
  const count = producers * 5;
  let next = 0;
  await Promise.all(range(0, producers).map(async () => {
    while (next < count) await enqueue(1_000_000 + next++);
  }));
  return count;
}

/** Jobs per call of (c)'s second part: the few tasks a web request enqueues at once. */
const SMALL_BATCH = 5;

/**
 * (c) single enqueue: `producers` concurrent loops share `singleEnqueues` enqueues through
 * the system's one-job API (no worker running); enqueues per second. Then the same producers
 * share as many jobs again in calls of the bulk API of SMALL_BATCH each: jobs per second.
 */
export async function singleEnqueueScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const { singleEnqueues: n, producers } = job.sizes;
  await eachRepetition(job, async (system) => {
    const warm = await warmUp((seq) => system.enqueue(seq), producers);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(range(0, producers).map(async () => {
      while (next < n) await system.enqueue(next++);
    }));
    const seconds = (performance.now() - t0) / 1000;
    const stored = await system.unfinished();
    if (stored !== n + warm) throw new Error(`single enqueue: ${stored} jobs stored, expected ${n + warm}`);
    rec.add(M.singleRate, 'jobs/s', n / seconds);

    let nextBatch = 0;
    const t1 = performance.now();
    await Promise.all(range(0, producers).map(async () => {
      while (nextBatch < n) {
        const from = nextBatch;
        nextBatch += SMALL_BATCH;
        await system.enqueueMany(range(2_000_000 + from, SMALL_BATCH));
      }
    }));
    const batchSeconds = (performance.now() - t1) / 1000;
    const batched = Math.ceil(n / SMALL_BATCH) * SMALL_BATCH;
    const storedAfter = await system.unfinished();
    if (storedAfter !== n + warm + batched) throw new Error(`small batches: ${storedAfter} jobs stored, expected ${n + warm + batched}`);
    rec.add(M.smallBatchRate, 'jobs/s', batched / batchSeconds);
  });
}

/** (d) bulk enqueue: one call of the system's bulk API with `bulkTasks` jobs; jobs per second. */
export async function bulkEnqueueScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const n = job.sizes.bulkTasks;
  await eachRepetition(job, async (system) => {
    await system.enqueueMany(range(1_000_000, 10));
    const seqs = range(0, n);
    const t0 = performance.now();
    const added = await system.enqueueMany(seqs);
    const ms = performance.now() - t0;
    if (added !== n) throw new Error(`bulk enqueue added ${added} of ${n}`);
    const stored = await system.unfinished();
    if (stored !== n + 10) throw new Error(`bulk enqueue: ${stored} jobs stored, expected ${n + 10}`);
    rec.add(M.bulkRate, 'jobs/s', (n / ms) * 1000);
    rec.add('bulk enqueue time', 'ms', ms);
  });
}
