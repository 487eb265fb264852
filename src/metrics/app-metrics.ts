import type { Logger } from '../logger.js';
import type { Queue, QueueStats } from '../queue/index.js';
import { TASK_STATUSES } from '../queue/states.js';
import type { Runner } from '../worker/runner.js';
import { registerProcessMetrics } from './process-metrics.js';
import { createMetricsRegistry, type MetricsRegistry, type Sample } from './registry.js';
import { createTaskMetrics } from './task-metrics.js';

/** The subscription fan-out counters `/metrics` shows (the server's TaskEventStats has these and more). */
export interface FanOutStats {
  readonly subscriptions: number;
  readonly events: number;
  readonly readQueries: number;
  readonly delivered: number;
  readonly reconnects: number;
}

export interface AppMetricsOptions {
  queue: Queue;
  /** The subscription fan-out's counters (app.stats). */
  stats: FanOutStats;
  log: Logger;
  /** This process's worker, when it runs one: its attempts are counted and timed. */
  runner?: Runner;
  /** Longest wait for the queue statistics at a scrape, in ms (default 2,000); then the queue series are left out. */
  queueStatsTimeoutMs?: number;
}

export interface AppMetrics {
  registry: MetricsRegistry;
  /** The queue to serve requests with: its enqueues are counted. */
  queue: Queue;
  /** The exposition text for `GET /metrics`. */
  render(): Promise<string>;
  /** Stops observing the runner and sampling the event loop. */
  close(): void;
}

/**
 * Everything `/metrics` shows for one server process: task counters and durations (this
 * process's enqueues and worker), queue depth and age (the whole database, read at scrape
 * time), subscription fan-out counters, and process basics.
 */
export function createAppMetrics(options: AppMetricsOptions): AppMetrics {
  const { stats, log, runner } = options;
  const timeoutMs = options.queueStatsTimeoutMs ?? 2000;
  const registry = createMetricsRegistry();
  const tasks = createTaskMetrics(registry);
  const queue = tasks.instrumentQueue(options.queue);
  const detachRunner = runner ? tasks.observeRunner(runner) : () => undefined;

  // One queueStats query per scrape, shared by the families that read it.
  let scrape: Promise<QueueStats[] | undefined> | undefined;
  const queueStats = (): Promise<QueueStats[] | undefined> => (scrape ??= loadQueueStats());

  async function loadQueueStats(): Promise<QueueStats[] | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const query = options.queue.queueStats();
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const result = await Promise.race([query, timeout]);
      if (result === 'timeout') {
        query.catch(() => undefined);
        log.warn({ timeoutMs }, 'metrics: queue statistics timed out');
        return undefined;
      }
      return result;
    } catch (error) {
      log.warn({ err: error }, 'metrics: reading queue statistics failed');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  registry.collected('taskwire_queue_stats_up', 'gauge', '1 when this scrape read the queue statistics from the database, 0 when that failed or timed out.', async () => [
    { value: (await queueStats()) ? 1 : 0 },
  ]);
  registry.collected('taskwire_queue_tasks', 'gauge', 'Tasks in the database by queue and status, read at scrape time (the same in every process).', async () =>
    ((await queueStats()) ?? []).flatMap((q) => TASK_STATUSES.map((status) => ({ labels: { queue: q.queue, status }, value: q.counts[status] }))),
  );
  registry.collected(
    'taskwire_queue_oldest_pending_age_seconds',
    'gauge',
    'How long the oldest task due to run (PENDING or RETRYING, runAfter passed) has waited, by queue, in seconds; 0 when none waits.',
    async () => ((await queueStats()) ?? []).map((q) => ({ labels: { queue: q.queue }, value: (q.oldestPendingAgeMs ?? 0) / 1000 })),
  );

  const stat = (key: keyof FanOutStats) => (): Sample[] => [{ value: stats[key] }];
  registry.collected('taskwire_subscriptions_open', 'gauge', 'GraphQL subscriptions open on this server (graphql-ws and SSE).', stat('subscriptions'));
  registry.collected('taskwire_task_events_received_total', 'counter', 'Task changes announced to this server by NOTIFY.', stat('events'));
  registry.collected('taskwire_subscription_reads_total', 'counter', 'Database reads made to feed subscriptions (one per batch of changes).', stat('readQueries'));
  registry.collected('taskwire_subscription_deliveries_total', 'counter', 'Task states handed to subscribers (one per subscriber per state).', stat('delivered'));
  registry.collected('taskwire_events_listener_reconnects_total', 'counter', 'Times the LISTEN connection came back after a loss.', stat('reconnects'));

  if (runner) {
    registry.collected('taskwire_worker_running_tasks', 'gauge', 'Attempts running now in this process\'s worker.', () => [
      { labels: { worker_id: runner.workerId }, value: runner.running },
    ]);
  }
  const stopProcessMetrics = registerProcessMetrics(registry);

  return {
    registry,
    queue,
    async render() {
      try {
        return await registry.render();
      } finally {
        scrape = undefined;
      }
    },
    close() {
      detachRunner();
      stopProcessMetrics();
    },
  };
}
