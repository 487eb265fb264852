import type { Logger } from '../logger.js';
import type { Queue, QueueStats } from '../queue/index.js';
import { TASK_STATUSES } from '../queue/states.js';
import { LIVE_STATUSES } from '../queue/stats.js';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Rescuer } from '../queue/maintenance/rescuer.js';
import type { ObservableRounds } from '../queue/maintenance/rounds.js';
import type { Runner } from '../worker/runner.js';
import { processMetricsRegistry } from './process-metrics.js';
import { boundQueueStats, MAX_QUEUE_LABELS, type QueueView } from './queue-labels.js';
import { createMaintenanceMetrics } from './maintenance-metrics.js';
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
  /**
   * The event log's fan-out counters (taskEvents, taskEventFeed: app.logStats), in a process with a
   * GraphQL server: its reads, its deliveries, and how long the feed has been held back.
   */
  eventLog?: { readonly logReads: number; readonly feedReads: number; readonly delivered: number; readonly feedHeldSince: number | null };
  /**
   * The channels this server LISTENs on only while someone watches (src/server/live/on-demand-listener.ts),
   * by name: each `listening` is 1 or 0. None in a process without a GraphQL server.
   */
  listeners?: Readonly<Record<string, { readonly listening: number }>>;
  log: Logger;
  /** This process's worker, when it runs one: its attempts are counted and timed. */
  runner?: Runner;
  /** This process's rescuer: the tasks it takes back from lost workers are counted (they count nothing themselves). */
  rescuer?: Pick<Rescuer, 'onRescued'>;
  /** This process's background services (rescuer, cleaner, scheduler, bulk-action runner): their rounds are counted. */
  maintenance?: readonly ObservableRounds[];
  /** Longest wait for the queue statistics at a scrape, in ms (default 2,000); then the queue series are left out. */
  queueStatsTimeoutMs?: number;
  /** The process's reading of the database's clock (src/db/database-clock.ts): taskwire_clock_offset_seconds. */
  clock?: { fresh(): Promise<{ offsetMs: number } | undefined> };
  /**
   * Most `queue` label values per family, besides `(other)` (default MAX_QUEUE_LABELS, 200): the
   * counters name the first queues they count, the queue gauges the queues with the most unfinished
   * tasks; the rest are summed under `queue="(other)"` (src/metrics/queue-labels.ts).
   */
  maxQueueLabels?: number;
}

export interface AppMetrics {
  /**
   * Every family `/metrics` shows: this app's and the process's (prom-client's defaults). A
   * prom-client registry of its own, not the global one; `getMetricsAsJSON()` reads it as data.
   */
  registry: Registry;
  /** The queue to serve requests with: its enqueues are counted. */
  queue: Queue;
  /** The exposition text for `GET /metrics`. */
  render(): Promise<string>;
  /** Counts one GraphQL operation answered (src/server/operation-metrics.ts): taskwire_graphql_operations_total. */
  countOperation(type: string, code: string): void;
  /** Counts one HTTP response (src/server/response-metrics.ts): taskwire_http_responses_total. */
  countResponse(route: string, code: string): void;
  /** Stops observing the runner, the rescuer and the background services. */
  close(): void;
}

type FinishedCounts = Pick<QueueStats['counts'], 'SUCCEEDED' | 'FAILED' | 'CANCELLED'>;
const NO_FINISHED: FinishedCounts = { SUCCEEDED: 0, FAILED: 0, CANCELLED: 0 };
/**
 * The finished counts are read again once this many times their last read's duration has passed: a
 * scan of 5 ms at every scrape; one of 0.5 s (a million tasks) every 10 s, as a usual scrape interval;
 * one of 5 s (ten million) every 100 s. So they cost a process at most about 5 % of a database core,
 * whatever the history's size, and are never older than 20 reads' time.
 */
const FINISHED_COST_SHARE = 20;
/** A read of the finished counts running this long is taken as hung (its connection gone), and another may start. */
const FINISHED_HUNG_MS = 10 * 60_000;

/** What a scrape read: the queues as the gauges show them, and whether finished counts were ever read. */
interface Scraped {
  queues: QueueView[];
  finishedKnown: boolean;
}

/**
 * Everything `/metrics` shows for one server process: task counters and durations (this
 * process's enqueues and worker), queue depth and age (the whole database, read at scrape
 * time), subscription fan-out counters, and process basics.
 */
export function createAppMetrics(options: AppMetricsOptions): AppMetrics {
  const { stats, log, runner } = options;
  // A failing read is said once when it starts failing and once when it reads again (as readiness
  // is), not at every scrape: a database away for a minute made two warn lines with a stack per scrape.
  const failing = { live: false, finished: false };
  const failed = (read: keyof typeof failing, fields: Record<string, unknown>, message: string): void => {
    if (failing[read]) log.debug(fields, message);
    else log.warn(fields, `${message} (said again once it reads; until then at debug level)`);
    failing[read] = true;
  };
  const succeeded = (read: keyof typeof failing, message: string): void => {
    if (!failing[read]) return;
    failing[read] = false;
    log.info(message);
  };
  const timeoutMs = options.queueStatsTimeoutMs ?? 2000;
  const own = new Registry();
  const registers = [own];
  const maxQueueLabels = options.maxQueueLabels ?? MAX_QUEUE_LABELS;
  const tasks = createTaskMetrics(own, { maxQueueLabels });
  const queue = tasks.instrumentQueue(options.queue);
  const detachRunner = runner ? tasks.observeRunner(runner) : () => undefined;
  const detachRescuer = options.rescuer ? tasks.observeRescuer(options.rescuer) : () => undefined;
  const detachMaintenance = createMaintenanceMetrics(own).observe(options.maintenance ?? []);

  // One read of the queues per scrape, shared by the four families that show it: prom-client
  // collects every family of a scrape at once, so they all join the read in flight. It is two reads:
  // - the live one (queueControl.list('live'): the backlog's statuses by the partial indexes, the
  //   oldest due task, the pauses), every scrape, in time proportional to the backlog: what the
  //   alerts (depth, age, paused) read, and what taskwire_queue_stats_up says was read;
  // - the finished counts (SUCCEEDED, FAILED, CANCELLED: the whole history, one grouped scan), read
  //   again only once FINISHED_COST_SHARE times its last duration has passed, and shown from the
  //   last read that ended: on a history of millions the scan took longer than the timeout, and the
  //   live series went with it, exactly when the backlog gauges mattered.
  let scrape: Promise<Scraped | undefined> | undefined;
  // The live read outlives a scrape that gave up on it (the timeout does not cancel it): the next
  // scrapes wait on it rather than start another beside it, so that reads do not pile up in
  // PostgreSQL, one more every scrape. Joined for ten timeouts at most: a read that hangs (its
  // connection silently gone) must not blank the queue series until TCP gives up on it.
  let reading: { read: Promise<QueueView[]>; startedAt: number } | undefined;
  const staleAfterMs = 10 * timeoutMs;
  const queueStats = (): Promise<Scraped | undefined> =>
    (scrape ??= loadQueueStats().finally(() => {
      scrape = undefined;
    }));

  let finished: ReadonlyMap<string, FinishedCounts> | undefined;
  let finishedRead: Promise<void> | undefined;
  let finishedNextAt = 0;
  let finishedStartedAt = 0;
  let lastFinishedMs: number | undefined;
  /** Starts a read of the finished counts when one is due (none in flight); the read in flight, if any. */
  function readFinished(): Promise<void> | undefined {
    // A read that hangs (its connection silently gone) is given up after FINISHED_HUNG_MS.
    if (finishedRead && performance.now() - finishedStartedAt < FINISHED_HUNG_MS) return finishedRead;
    if (!finishedRead && performance.now() < finishedNextAt) return undefined;
    const startedAt = performance.now();
    finishedStartedAt = startedAt;
    const read: Promise<void> = options.queue.queueControl
      .list('all')
      .then((queues) => {
        finished = new Map(queues.map((q) => [q.name, { SUCCEEDED: q.stats.counts.SUCCEEDED, FAILED: q.stats.counts.FAILED, CANCELLED: q.stats.counts.CANCELLED }]));
        succeeded('finished', 'metrics: the finished task counts are read again');
      })
      .catch((error: unknown) => failed('finished', { err: error }, 'metrics: reading the finished task counts failed'))
      .finally(() => {
        const now = performance.now();
        // The shorter of the last two reads: a process's first read (its plan, a cold cache) is slow
        // once, and must not hold the counts back for 20 times that.
        const took = now - startedAt;
        if (finishedRead !== read) return;
        finishedNextAt = now + Math.min(took, lastFinishedMs ?? 0) * FINISHED_COST_SHARE;
        lastFinishedMs = took;
        finishedRead = undefined;
      });
    finishedRead = read;
    return read;
  }

  /** Every queue (settings and tasks), paused or not, with its live counts. */
  async function readQueues(): Promise<QueueView[]> {
    const queues = await options.queue.queueControl.list('live');
    return queues.map((q) => ({
      queue: q.name,
      counts: { ...q.stats.counts, ...NO_FINISHED },
      oldestPendingAgeMs: q.stats.oldestPendingAgeMs,
      oldestRunningAgeMs: q.stats.oldestRunningAgeMs,
      paused: q.paused,
    }));
  }

  async function loadQueueStats(): Promise<Scraped | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const finishing = readFinished();
      if (!reading || performance.now() - reading.startedAt > staleAfterMs) {
        const read = readQueues().finally(() => {
          if (reading?.read === read) reading = undefined;
        });
        reading = { read, startedAt: performance.now() };
      }
      const query = reading.read;
      const result = await Promise.race([query, timeout]);
      if (result === 'timeout') {
        query.catch(() => undefined);
        failed('live', { timeoutMs }, 'metrics: queue statistics timed out');
        return undefined;
      }
      succeeded('live', 'metrics: the queue statistics are read again');
      // Within the same timeout, so that a small history's counts are those of this scrape; a slow
      // read goes on in the background, and its answer shows at a later scrape.
      if (finishing) await Promise.race([finishing, timeout]);
      const known = finished;
      // Queues holding tasks (a queue with settings and no task is not shown).
      const queues = result
        .map((q) => (known?.has(q.queue) ? { ...q, counts: { ...q.counts, ...known.get(q.queue) } } : q))
        .filter((q) => Object.values(q.counts).some((n) => n > 0));
      return { queues: boundQueueStats(queues, maxQueueLabels), finishedKnown: known !== undefined };
    } catch (error) {
      failed('live', { err: error }, 'metrics: reading queue statistics failed');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  const { clock } = options;
  if (clock) {
    new Gauge({
      name: 'taskwire_clock_offset_seconds',
      help: "The database's clock minus this process's wall clock at its last reading (once a minute), in seconds: positive, this host is behind. Task ids (the order lists follow) and a client's runAfter come from the hosts' clocks (docs/operations.md \"Clocks\"): alert past a second.",
      registers,
      async collect() {
        // Read again when the last reading is over a minute old: a scrape after a quiet spell showed an old one.
        const reading = await clock.fresh();
        if (reading) this.set(reading.offsetMs / 1000);
      },
    });
  }

  new Gauge({
    name: 'taskwire_queue_stats_up',
    help: '1 when this scrape read the live queue statistics (backlog, age, pauses) from the database, 0 when that failed or timed out.',
    registers,
    async collect() {
      this.set((await queueStats()) ? 1 : 0);
    },
  });
  // Reset at each scrape: a queue whose tasks are all gone leaves the exposition.
  new Gauge({
    name: 'taskwire_queue_tasks',
    help: 'Tasks in the database by queue and status: unfinished ones read at scrape time, finished ones as last read (at most 20 reads\' time old).',
    labelNames: ['queue', 'status'],
    registers,
    async collect() {
      const stats = await queueStats();
      this.reset();
      // Before the first read of the finished counts has ended, their series are left out, not 0.
      const statuses = stats?.finishedKnown ? TASK_STATUSES : LIVE_STATUSES;
      for (const q of stats?.queues ?? []) for (const status of statuses) this.set({ queue: q.queue, status }, q.counts[status]);
    },
  });
  /** A gauge of one value per queue of the scrape's read (reset at each: a queue gone leaves the exposition). */
  const perQueueGauge = (name: string, help: string, value: (q: QueueView) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['queue'],
      registers,
      async collect() {
        const stats = await queueStats();
        this.reset();
        for (const q of stats?.queues ?? []) this.set({ queue: q.queue }, value(q));
      },
    });
  };
  perQueueGauge(
    'taskwire_queue_oldest_pending_age_seconds',
    'How long the oldest task due to run (PENDING or RETRYING, runAfter passed) has waited, by queue, in seconds; 0 when none waits.',
    (q) => (q.oldestPendingAgeMs ?? 0) / 1000,
  );
  perQueueGauge(
    'taskwire_queue_oldest_running_age_seconds',
    'How long the longest-running attempt (RUNNING, from its claim) has run, by queue, in seconds; 0 when none runs. A hung handler shows here.',
    (q) => (q.oldestRunningAgeMs ?? 0) / 1000,
  );
  perQueueGauge(
    'taskwire_queue_paused',
    'Whether the queue is paused (1) or not (0), for the queues of taskwire_queue_tasks; (other) is 1 only when all its queues are.',
    (q) => (q.paused ? 1 : 0),
  );

  const operations = new Counter({
    name: 'taskwire_graphql_operations_total',
    help: 'GraphQL operations this server answered (HTTP, SSE, graphql-ws), by type (query, mutation, subscription, unknown) and code (OK, or the first error\'s extensions.code).',
    labelNames: ['type', 'code'],
    registers,
  });
  const responses = new Counter({
    name: 'taskwire_http_responses_total',
    help: 'HTTP responses of this process, by route (graphql, metrics, healthz, readyz, dashboard, other) and status code (499: the client went away before the response began).',
    labelNames: ['route', 'code'],
    registers,
  });
  new Gauge({
    name: 'taskwire_subscriptions_open',
    help: 'GraphQL subscriptions open on this server (graphql-ws and SSE).',
    registers,
    collect() {
      this.set(stats.subscriptions);
    },
  });
  /** A counter kept elsewhere (the fan-out's stats), read at each scrape. */
  const statCounter = (name: string, help: string, key: Exclude<keyof FanOutStats, 'subscriptions'>): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(stats[key]);
      },
    });
  };
  const listeners = Object.entries(options.listeners ?? {});
  if (listeners.length > 0) {
    new Gauge({
      name: 'taskwire_listening',
      help: 'Whether this server LISTENs on a notification channel now (1), or stopped after its idle grace with nobody watching (0).',
      labelNames: ['channel'],
      registers,
      collect() {
        for (const [channel, listener] of listeners) this.set({ channel }, listener.listening);
      },
    });
  }
  statCounter('taskwire_task_events_received_total', 'Task changes announced to this server by NOTIFY.', 'events');
  statCounter('taskwire_subscription_reads_total', 'Database reads made to feed subscriptions (one per batch of changes).', 'readQueries');
  statCounter('taskwire_subscription_deliveries_total', 'Task states handed to subscribers (one per subscriber per state).', 'delivered');
  statCounter('taskwire_events_listener_reconnects_total', 'Times the LISTEN connection came back after a loss.', 'reconnects');
  const eventLog = options.eventLog;
  if (eventLog) {
    new Counter({
      name: 'taskwire_event_log_reads_total',
      help: 'Database reads of the event log for subscriptions: task logs (taskEvents) or the feed (taskEventFeed).',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        this.inc({ source: 'task' }, eventLog.logReads);
        this.inc({ source: 'feed' }, eventLog.feedReads);
      },
    });
    new Counter({
      name: 'taskwire_event_log_deliveries_total',
      help: 'Events of the event log handed to subscribers (taskEvents and taskEventFeed, one per subscriber per event).',
      registers,
      collect() {
        this.reset();
        this.inc(eventLog.delivered);
      },
    });
    new Gauge({
      name: 'taskwire_event_feed_held_seconds',
      help: 'How long the event feed has waited at one horizon with events behind it (an open transaction that wrote holds every feed subscriber back); 0 when nothing waits.',
      registers,
      collect() {
        const since = eventLog.feedHeldSince;
        this.set(since === null ? 0 : Math.max(0, performance.now() - since) / 1000);
      },
    });
  }

  if (runner) {
    new Gauge({
      name: 'taskwire_worker_running_tasks',
      help: 'Attempts running now in this process\'s worker.',
      labelNames: ['worker_id'],
      registers,
      collect() {
        this.set({ worker_id: runner.workerId }, runner.running);
      },
    });
    // Beside the running count, so that saturation is a ratio of two series, not a hard-coded slot count.
    new Gauge({
      name: 'taskwire_worker_slots',
      help: 'Slots of this process\'s worker: how many tasks it runs at once (WORKER_CONCURRENCY or --concurrency).',
      labelNames: ['worker_id'],
      registers,
      collect() {
        this.set({ worker_id: runner.workerId }, runner.concurrency);
      },
    });
  }
  const registry = Registry.merge([own, processMetricsRegistry()]);

  return {
    registry,
    queue,
    render: () => registry.metrics(),
    countOperation: (type, code) => operations.inc({ type, code }),
    countResponse: (route, code) => responses.inc({ route, code }),
    close() {
      detachRunner();
      detachRescuer();
      detachMaintenance();
    },
  };
}
