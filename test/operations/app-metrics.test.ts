import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createAppMetrics, type FanOutStats } from '../../src/metrics/app-metrics.js';
import type { Queue, QueueStats } from '../../src/queue/index.js';
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

function queueAnswering(answer: () => Promise<QueueStats[]>): { queue: Queue; calls: () => number } {
  let calls = 0;
  const queue = {
    queueStats: () => {
      calls += 1;
      return answer();
    },
  } as unknown as Queue;
  return { queue, calls: () => calls };
}

describe('createAppMetrics', () => {
  it('reads the queue statistics once per scrape for the three families that show them', async () => {
    const { queue, calls } = queueAnswering(async () => STATS);
    const metrics = createAppMetrics({ queue, stats: STATS_FAN_OUT, log: silentLogger });
    try {
      const f = await readMetrics(metrics.registry);
      expect(calls()).toBe(1);
      expect(sampleValue(f, 'taskwire_queue_stats_up')).toBe(1);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: 'default', status: 'PENDING' })).toBe(2);
      expect(sampleValue(f, 'taskwire_queue_tasks', { queue: 'default', status: 'SUCCEEDED' })).toBe(5);
      expect(sampleValue(f, 'taskwire_queue_oldest_pending_age_seconds', { queue: 'default' })).toBe(1.5);
      await metrics.render();
      expect(calls()).toBe(2);
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
});
