import type { ChildJob, Recorder } from '../lib/protocol.js';
import { percentiles } from '../lib/stats.js';
import { delay, range, waitUntil } from '../lib/wait.js';
import type { TaskwireSystem } from '../systems/taskwire.js';
import { drainOnce, eachRepetition } from './worker.js';

/** The metrics of (l), named here so that bench/lib/targets.ts reads the same strings. */
export const FLOW_METRICS = {
  plainDrain: 'drain, no limit',
  limitedDrain: 'drain, generous limit',
  /** Limited ÷ plain within each repetition (both drains back to back): the target's measure. */
  limitedRatio: 'drain, generous limit ÷ no limit',
  pauseLastStartP99: 'pause → last start p99',
  pauseLastStartMax: 'pause → last start max',
} as const;

/** The generous limit: far above what one worker of concurrency 10 starts, so it never holds, but every claim takes the limited path. */
const GENEROUS = { concurrency: 100_000, rateLimit: { max: 1_000_000, perMs: 1000 } };
/** How long after a pause's commit a start still counts as the pause's (it is measured, not cut off), ms. */
const AFTER_PAUSE_MS = 300;

/**
 * (l) flow control: (1) the drain of `drainTasks` no-op tasks with a generous limit on the queue
 * (concurrency 100,000 and 1,000,000 starts per second: never reached, but every claim goes
 * through the limited claim, under the queue row's lock) against the same drain with no limit,
 * both in each repetition, the order alternating between repetitions so that neither always
 * runs on the other's history. (2) pause latency: a worker drains a backlog; the queue is paused
 * (pauseQueue) while tasks start, then resumed once the pause is measured, `pauses` times; each
 * time the latency is the last handler start after the pause's commit (the pause's `pausedAt`,
 * the statement's `now()`; 0 when no task started after it), same host clock.
 */
export async function flowControlScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const n = job.sizes.drainTasks;
  const pauses = n >= 10_000 ? 50 : 20;
  await eachRepetition(job, async (system, _url, rep) => {
    const tw = system as TaskwireSystem;
    const control = tw.deps.queue.queueControl;
    // Not measured: the first drain in a fresh database runs cold (plans, caches, JIT) and was
    // up to 3× slower than the second, whichever kind it was.
    await drainOnce(system, Math.min(n, 2000));
    const rates = { plain: 0, limited: 0 };
    for (const limited of rep % 2 === 1 ? [false, true] : [true, false]) {
      await control.setLimits('default', limited ? GENEROUS : { concurrency: null, rateLimit: null });
      const rate = await drainOnce(system, n);
      rates[limited ? 'limited' : 'plain'] = rate;
      rec.add(limited ? FLOW_METRICS.limitedDrain : FLOW_METRICS.plainDrain, 'jobs/s', rate);
    }
    rec.add(FLOW_METRICS.limitedRatio, 'ratio', rates.limited / rates.plain);
    await control.setLimits('default', { concurrency: null, rateLimit: null });
    const lateness = await measurePauses(tw, pauses, n);
    rec.add(FLOW_METRICS.pauseLastStartP99, 'ms', percentiles(lateness).p99);
    rec.add(FLOW_METRICS.pauseLastStartMax, 'ms', Math.max(...lateness));
    if (rep === 1) rec.notes.push(`flow-control: ${pauses} pauses of a draining queue per repetition; the limited drain claims under the queue's row lock`);
  });
}

/** Pauses a draining queue `count` times; returns each pause's lateness (last start after its commit), ms. */
async function measurePauses(tw: TaskwireSystem, count: number, drainTasks: number): Promise<number[]> {
  const control = tw.deps.queue.queueControl;
  // Enough backlog that the drain runs through every pause: between reaching 50 new starts and the
  // pause's commit the worker runs on, up to ~1,000 tasks a cycle on this machine (the full run's
  // 50 pauses emptied a 40,000-task backlog at pause 41).
  await tw.enqueueMany(range(0, Math.max(20_000, drainTasks * 2, count * 2_000)));
  const starts: number[] = [];
  await tw.startWorker(() => {
    starts.push(performance.timeOrigin + performance.now());
  });
  const lateness: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const before = starts.length;
      await waitUntil(() => starts.length >= before + 50, { timeoutMs: 30_000, what: `tasks to start before pause ${i + 1} of ${count} (${starts.length} started so far)` });
      const paused = await control.pause('default');
      const committedAt = (paused.pausedAt as Date).getTime();
      await delay(AFTER_PAUSE_MS);
      const after = starts.filter((t) => t > committedAt);
      lateness.push(after.length === 0 ? 0 : Math.max(...after) - committedAt);
      await control.resume('default');
    }
  } finally {
    await control.resume('default');
    await tw.stopWorker();
  }
  return lateness;
}
