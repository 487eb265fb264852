import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createAppMetrics, type FanOutStats } from '../../src/metrics/app-metrics.js';
import { OTHER_QUEUE } from '../../src/metrics/queue-labels.js';
import type { Queue, QueueInfo, QueueStats } from '../../src/queue/index.js';
import { captureLog } from '../helpers/log-capture.js';
import { readMetrics, sampleValue } from './metric-values.js';

// In-process: only queueStats() of the queue is used at a scrape, so a queue that answers it
// from memory shows what the metrics do with the answer (the database side: metrics.test.ts).
const STATS: QueueStats[] = [
  {
    queue: 'default',
    counts: { BLOCKED: 0, PENDING: 2, RUNNING: 1, RETRYING: 0, SUCCEEDED: 5, FAILED: 0, CANCELLED: 0 },
    oldestPendingAgeMs: 1500,
  },
];
const STATS_FAN_OUT: FanOutStats = { subscriptions: 3, events: 7, readQueries: 2, delivered: 11, reconnects: 1 };

type Read = 'live' | 'all';
const FINISHED = ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

/**
 * A queue whose queueControl.list(read) (what a scrape reads) answers `answer(read)`'s statistics
 * ('live' with the finished counts zeroed, as liveQueueStats has none); `paused` names the paused queues.
 */
function queueAnswering(answer: (read: Read) => Promise<QueueStats[]>, paused: readonly string[] = []): { queue: Queue; calls: Record<Read, number> } {
  const calls: Record<Read, number> = { live: 0, all: 0 };
  const list = async (read: Read = 'all'): Promise<QueueInfo[]> => {
    calls[read] += 1;
    return (await answer(read)).map((stats) => ({
      name: stats.queue,
      paused: paused.includes(stats.queue),
      pausedAt: null,
      concurrency: null,
      rateLimit: null,
      perKeyConcurrency: null,
      version: 1,
      stats: read === 'live' ? { ...stats, counts: { ...stats.counts, ...Object.fromEntries(FINISHED.map((f) => [f, 0])) } } : stats,
    }));
  };
  const queue = { queueControl: { list } } as unknown as Queue;
  return { queue, calls };
}

describe('createAppMetrics', () => {
  it('reads the queues once per scrape for the four families that show them', async () => {
    const { queue, calls } = queueAnswering(async () => STATS, ['default']);
    const metrics = createAppMetrics({ queue, stats: STATS_FAN_OUT, log: silentLogger });
    try {
      const f = await readMetrics(metrics.registry);
      expect(calls).toEqual({ live: 1, all: 1 });
      expect(sampleValue(f, 'taskwire_queue_stats_up')).toBe(1);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: 'default', status: 'PENDING' })).toBe(2);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: 'default', status: 'SUCCEEDED' })).toBe(5);
      expect(sampleValue(f, 'taskwire_queue_oldest_pending_age_seconds', { queue: 'default' })).toBe(1.5);
      expect(sampleValue(f, 'taskwire_queue_paused', { queue: 'default' })).toBe(1);
      await metrics.render();
      expect(calls.live).toBe(2);
    } finally {
      metrics.close();
    }
  });

  it('shows the live series when the finished counts are slow, those from the last read that ended, and reads them again only after 20× its duration', async () => {
    let finishAll!: (stats: QueueStats[]) => void;
    let allRead = STATS;
    const { queue, calls } = queueAnswering((read) => (read === 'live' ? Promise.resolve(allRead) : new Promise<QueueStats[]>((resolve) => (finishAll = resolve))));
    const metrics = createAppMetrics({ queue, stats: STATS_FAN_OUT, log: silentLogger, queueStatsTimeoutMs: 30 });
    try {
      // The scan of the history does not end within the timeout: the live series are shown, the finished ones left out.
      let f = await readMetrics(metrics.registry);
      expect(sampleValue(f, 'taskwire_queue_stats_up')).toBe(1);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: 'default', status: 'PENDING' })).toBe(2);
      expect(sampleValue(f, 'taskwire_queue_oldest_pending_age_seconds', { queue: 'default' })).toBe(1.5);
      expect(f.get('taskwire_queue_tasks')?.values.map((v) => v.labels.status).sort()).toEqual(['BLOCKED', 'PENDING', 'RETRYING', 'RUNNING']);
      // Still running at the next scrape: joined, not read again.
      await readMetrics(metrics.registry);
      expect(calls).toEqual({ live: 2, all: 1 });
      // Once it has ended its counts are shown. A process's first read is not the measure (it is slow
      // once: a cold cache, its plan): the next scrape reads again, and that one took ~60 ms too.
      await new Promise((resolve) => setTimeout(resolve, 30));
      finishAll(STATS);
      await new Promise((resolve) => setImmediate(resolve));
      allRead = [{ ...STATS[0]!, counts: { ...STATS[0]!.counts, PENDING: 7 } }];
      f = await readMetrics(metrics.registry);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: 'default', status: 'SUCCEEDED' })).toBe(5);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: 'default', status: 'PENDING' })).toBe(7);
      expect(calls).toEqual({ live: 3, all: 2 });
      await new Promise((resolve) => setTimeout(resolve, 30));
      finishAll([{ ...STATS[0]!, counts: { ...STATS[0]!.counts, SUCCEEDED: 6 } }]);
      await new Promise((resolve) => setImmediate(resolve));
      // Two reads of ~60 ms: the next is due in ~1.2 s, and the scrapes meanwhile show the last one's.
      f = await readMetrics(metrics.registry);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: 'default', status: 'SUCCEEDED' })).toBe(6);
      await readMetrics(metrics.registry);
      expect(calls).toEqual({ live: 5, all: 2 });
    } finally {
      metrics.close();
    }
  });

  it('shows the fan-out counters as they are at the scrape', async () => {
    const { queue } = queueAnswering(async () => []);
    const stats = { ...STATS_FAN_OUT };
    const metrics = createAppMetrics({ queue, stats, log: silentLogger });
    try {
      stats.delivered = 42;
      const f = await readMetrics(metrics.registry);
      expect(sampleValue(f, 'taskwire_subscriptions_open')).toBe(3);
      expect(sampleValue(f, 'taskwire_task_events_received_total')).toBe(7);
      expect(sampleValue(f, 'taskwire_subscription_reads_total')).toBe(2);
      expect(sampleValue(f, 'taskwire_subscription_deliveries_total')).toBe(42);
      expect(sampleValue(f, 'taskwire_events_listener_reconnects_total')).toBe(1);
    } finally {
      metrics.close();
    }
  });

  it('leaves the queue series out, and says so, when the statistics do not come within the timeout', async () => {
    const { queue } = queueAnswering(() => new Promise<QueueStats[]>(() => undefined));
    const metrics = createAppMetrics({ queue, stats: STATS_FAN_OUT, log: silentLogger, queueStatsTimeoutMs: 50 });
    try {
      const f = await readMetrics(metrics.registry);
      expect(sampleValue(f, 'taskwire_queue_stats_up')).toBe(0);
      expect(f.get('taskwire_queue_tasks')?.values).toEqual([]);
      expect(sampleValue(f, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      metrics.close();
    }
  });

  it('says a failing read once when it starts failing and once when it reads again, not at every scrape', async () => {
    const { log, lines } = captureLog('info');
    let away = true;
    const { queue } = queueAnswering(async () => {
      if (away) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      return STATS;
    });
    const metrics = createAppMetrics({ queue, stats: STATS_FAN_OUT, log });
    try {
      for (let i = 0; i < 5; i++) expect(sampleValue(await readMetrics(metrics.registry), 'taskwire_queue_stats_up')).toBe(0);
      // One warn line per read (the live one, the finished counts), not two per scrape.
      expect(lines.filter((l) => l.level === 40).map((l) => l.msg).sort()).toEqual([
        'metrics: reading queue statistics failed (said again once it reads; until then at debug level)',
        'metrics: reading the finished task counts failed (said again once it reads; until then at debug level)',
      ]);
      away = false;
      expect(sampleValue(await readMetrics(metrics.registry), 'taskwire_queue_stats_up')).toBe(1);
      expect(lines.filter((l) => l.level === 30).map((l) => l.msg)).toContain('metrics: the queue statistics are read again');
    } finally {
      metrics.close();
    }
  });

  it('does not start another read of the queues while one that timed out still runs: scans do not pile up', async () => {
    const finish: Partial<Record<Read, (stats: QueueStats[]) => void>> = {};
    const { queue, calls } = queueAnswering((read) => new Promise<QueueStats[]>((resolve) => (finish[read] = resolve)));
    const metrics = createAppMetrics({ queue, stats: STATS_FAN_OUT, log: silentLogger, queueStatsTimeoutMs: 20 });
    try {
      expect(sampleValue(await readMetrics(metrics.registry), 'taskwire_queue_stats_up')).toBe(0);
      expect(sampleValue(await readMetrics(metrics.registry), 'taskwire_queue_stats_up')).toBe(0);
      expect(calls).toEqual({ live: 1, all: 1 });
      // Once the live read has ended, its answer is shown, and the scrape after reads again.
      finish.live?.(STATS);
      expect(sampleValue(await readMetrics(metrics.registry), 'taskwire_queue_stats_up')).toBe(1);
      await readMetrics(metrics.registry);
      expect(calls).toEqual({ live: 2, all: 1 });
    } finally {
      metrics.close();
    }
  });

  it('reads again once the read it joined has run ten timeouts: a hung read does not blank the series for good', async () => {
    const { queue, calls } = queueAnswering(() => new Promise<QueueStats[]>(() => undefined));
    const metrics = createAppMetrics({ queue, stats: STATS_FAN_OUT, log: silentLogger, queueStatsTimeoutMs: 10 });
    try {
      await readMetrics(metrics.registry);
      expect(calls.live).toBe(1);
      // The time is what is tested here: ten timeouts of 10 ms, and a margin.
      await new Promise((resolve) => setTimeout(resolve, 150));
      await readMetrics(metrics.registry);
      expect(calls.live).toBe(2);
    } finally {
      metrics.close();
    }
  });

  it('gives each app its own families and shares the process ones', async () => {
    const { queue } = queueAnswering(async () => []);
    const a = createAppMetrics({ queue, stats: STATS_FAN_OUT, log: silentLogger });
    const b = createAppMetrics({ queue, stats: { ...STATS_FAN_OUT, subscriptions: 9 }, log: silentLogger });
    try {
      expect(sampleValue(await readMetrics(a.registry), 'taskwire_subscriptions_open')).toBe(3);
      expect(sampleValue(await readMetrics(b.registry), 'taskwire_subscriptions_open')).toBe(9);
      expect(a.registry.getSingleMetric('process_cpu_user_seconds_total')).toBe(b.registry.getSingleMetric('process_cpu_user_seconds_total'));
    } finally {
      a.close();
      b.close();
    }
  });

  it('shows at most maxQueueLabels queues in the queue gauges, the most loaded, and sums the rest under (other)', async () => {
    const empty = { BLOCKED: 0, PENDING: 0, RUNNING: 0, RETRYING: 0, SUCCEEDED: 0, FAILED: 0, CANCELLED: 0 };
    // q0 has the most unfinished tasks, q1 the next; q2..q5 fewer, with the oldest waiting task in q4.
    const many: QueueStats[] = [0, 1, 2, 3, 4, 5].map((i) => ({
      queue: `q${i}`,
      counts: { ...empty, PENDING: 10 - i, SUCCEEDED: 100 * i },
      oldestPendingAgeMs: i === 4 ? 9000 : 1000,
    }));
    const { queue } = queueAnswering(async () => many, ['q0', 'q2', 'q3', 'q4', 'q5']);
    const metrics = createAppMetrics({ queue, stats: STATS_FAN_OUT, log: silentLogger, maxQueueLabels: 2 });
    try {
      const f = await readMetrics(metrics.registry);
      const queues = (family: string) => new Set(f.get(family)?.values.map((s) => String(s.labels.queue)));
      expect(queues('taskwire_queue_tasks')).toEqual(new Set(['q0', 'q1', OTHER_QUEUE]));
      expect(queues('taskwire_queue_oldest_pending_age_seconds')).toEqual(new Set(['q0', 'q1', OTHER_QUEUE]));
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: OTHER_QUEUE, status: 'PENDING' })).toBe(8 + 7 + 6 + 5);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: OTHER_QUEUE, status: 'SUCCEEDED' })).toBe(200 + 300 + 400 + 500);
      expect(sampleValue(f, 'taskwire_queue_oldest_pending_age_seconds', { queue: OTHER_QUEUE })).toBe(9);
      expect(queues('taskwire_queue_paused')).toEqual(new Set(['q0', 'q1', OTHER_QUEUE]));
      expect(sampleValue(f, 'taskwire_queue_paused', { queue: 'q0' })).toBe(1);
      expect(sampleValue(f, 'taskwire_queue_paused', { queue: 'q1' })).toBe(0);
      // (other) holds paused queues only: paused, so that an alert may leave it out.
      expect(sampleValue(f, 'taskwire_queue_paused', { queue: OTHER_QUEUE })).toBe(1);
      const total = f.get('taskwire_queue_tasks')?.values.reduce((n, s) => n + s.value, 0);
      expect(total).toBe(many.reduce((n, q) => n + q.counts.PENDING + q.counts.SUCCEEDED, 0));
    } finally {
      metrics.close();
    }
  });
});
