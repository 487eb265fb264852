import { listenClientOf, settledOrRefused, type Sql } from '../db/client.js';
import { isTaskStatus, type TaskStatus } from './states.js';

/**
 * Two channels. `taskwire_jobs` wakes workers (payload: a queue name, `due:<ms>:<queue>` (due-notice.ts),
 * `cancel:<id>` or `queue-control:…`);
 * `taskwire_events` feeds subscriptions. Every statement that changes tasks sends its
 * events in the same statement (see changeTailSql below), so they commit or roll back together.
 */
export const JOBS_CHANNEL = 'taskwire_jobs';
export const EVENTS_CHANNEL = 'taskwire_events';

/** What a notification says about one change; the row itself is read by whoever cares. */
export interface TaskEvent {
  id: string;
  version: number;
  status: TaskStatus;
  /** Only output was appended (OUTPUT events up to `version`): the task's state is unchanged. */
  outputOnly?: boolean;
}

/**
 * Events travel as `id:version:status` (`…:O` when only output was appended) joined by
 * commas, up to 100 per NOTIFY (about 5 KB, under PostgreSQL's 8,000-byte payload limit), so
 * a batch of 1,000 changes costs 10 notifications rather than 1,000.
 */
export function decodeEvents(payload: string): TaskEvent[] {
  const events: TaskEvent[] = [];
  for (const part of payload.split(',')) {
    const [id, version, status, flag] = part.split(':');
    if (!id || !version || !isTaskStatus(status)) continue;
    events.push(flag === 'O' ? { id, version: Number(version), status, outputOnly: true } : { id, version: Number(version), status });
  }
  return events;
}

export function encodeEvents(events: readonly TaskEvent[]): string {
  return events.map((e) => `${e.id}:${e.version}:${e.status}${e.outputOnly ? ':O' : ''}`).join(',');
}

/**
 * How a statement's changed rows become event-log rows: SQL expressions over the columns of
 * the `changed` CTE (spliced in as text, so they hold no parameters: a statement that needs a
 * parameter in its event returns it as an extra column of `changed`). Defaults: the attempt is
 * the task's `attempts`, everything else NULL.
 */
export interface EventColumns {
  /** The event type, e.g. `'STARTED'` or a CASE over `status`. */
  type: string;
  attempt?: string;
  worker?: string;
  progress?: string;
  error?: string;
  /**
   * When it happened. Default: a clock reading of its own. A statement that stamps the task too
   * (finishedAt, lastAttemptedAt) passes that stamp, so the event and the task agree to the microsecond.
   */
  at?: string;
}

/**
 * The SQL tail shared by every statement that changes tasks: given a CTE named `changed`
 * holding the changed rows (with at least id, version, status, attempts, last_event_tx), it appends one row
 * per change to the event log (task_events) and sends the changes on the events channel, in
 * the same statement, so the change, its event and its notification commit or roll back
 * together; then it selects the changed rows. `alsoRun` names other CTEs (wake-ups) that must
 * run too: a read-only CTE that nothing reads is never executed (data-modifying ones always are).
 */
export function changeTailSql(event: EventColumns, alsoRun: readonly string[] = []): string {
  return `
${eventCtesSql(event)}
SELECT changed.*, ${notificationCountSql(alsoRun)} AS notifications FROM changed`;
}

/**
 * The `logged` and `notified` CTEs of changeTailSql, for statements that select something else at the end.
 *
 * An event's feed position is (tx, seq) (src/queue/event-feed.ts), and a transaction's id is taken at
 * its first write: a statement changing several tasks, or a transaction that wrote before, may write a
 * task's next version with an id below the one of a transaction that wrote and committed the version
 * before it, and the feed would hand the later version out first. So every statement that writes an
 * event sets the row's `last_event_tx = greatest(last_event_tx, pg_current_xact_id())` (an INSERT
 * takes its default, the transaction's id) and the event takes that as its tx: never below the
 * previous version's, never below its own transaction's (which the feed's horizon needs). The
 * greatest() again here keeps a statement that forgot the SET from writing a tx below its own
 * (test/queue/event-feed.test.ts checks every writer sets it). The SQL functions do the same
 * (drizzle/0041_feed_order_by_task.sql).
 */
export function eventCtesSql(event: EventColumns): string {
  return `
logged AS (
  INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at, tx)
  SELECT id, version, (${event.type})::task_event_type, status, ${event.attempt ?? 'attempts'},
         ${event.worker ?? 'NULL'}, ${event.progress ?? 'NULL'}, ${event.error ?? 'NULL'}, ${event.at ?? 'clock_timestamp()'},
         greatest(last_event_tx, pg_current_xact_id())
  FROM changed
),
notified AS (
  SELECT pg_notify('${EVENTS_CHANNEL}', string_agg(id::text || ':' || version || ':' || status, ','))
  FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
  GROUP BY chunk
)`;
}

/** How many NOTIFYs the `notified` CTE (and the wake-up CTEs named) sent: reading them makes them run. */
export function notificationCountSql(alsoRun: readonly string[] = []): string {
  return ['notified', ...alsoRun].map((cte) => `(SELECT count(*) FROM ${cte})`).join(' + ');
}

/** The event of a change made by a worker's attempt: the attempt's worker is the last of `worker_ids`. */
export const WORKER_OF_ATTEMPT = 'worker_ids[cardinality(worker_ids)]';

export interface Listener {
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Called with every notification's payload on `channel`. */
  onNotify(payload: string): void;
  /**
   * Called after LISTEN is (re)established. On a reconnect notifications may have been
   * missed, so callers re-read what they watch (workers claim, subscriptions re-send state).
   */
  onListen?(reconnected: boolean): void;
}

/**
 * What postgres.js keeps of its LISTENs, on its `listen` function (3.4): per channel, the callbacks
 * to call. Read only to take a closed Listener's callbacks out (see `listen`); absent in another
 * version, and then nothing is taken out beyond what `unlisten` does.
 */
interface ListenRegistry {
  channels?: Record<string, { listeners: { fn: unknown }[] } | undefined>;
}

/** Takes every entry of `fn` (the first and any re-added after a reconnect) out of the channel's callbacks. */
function forget(client: Sql, channel: string, fn: unknown): void {
  const entry = (client.listen as unknown as ListenRegistry).channels?.[channel];
  if (entry && Array.isArray(entry.listeners)) entry.listeners = entry.listeners.filter((l) => l.fn !== fn);
}

/**
 * LISTEN on one channel over the pool's dedicated listening connection. postgres.js
 * shares that one connection between all `listen` calls of a pool and re-LISTENs
 * after reconnecting, calling `onlisten` each time. A pool made with a listen URL
 * (DATABASE_LISTEN_URL, createDb's `listenUrl`) LISTENs over that direct connection
 * instead: behind PgBouncer's transaction pooling a LISTEN would hold no session.
 *
 * close() UNLISTENs the channel once no other Listener of the pool is on it, also after a
 * reconnect: postgres.js re-adds a channel's callbacks then as new entries its own `unlisten`
 * does not know, so they stayed, the channel stayed LISTENed and the callback kept being called.
 * (The server's hubs LISTEN only while someone watches: an UNLISTEN that does nothing would keep
 * every NOTIFY's cost on this process and its PostgreSQL backend.) A LISTEN that fails leaves
 * no entry behind either, so the next `listen` on the channel tries afresh.
 */
export async function listen(sql: Sql, channel: string, options: ListenOptions): Promise<Listener> {
  let listens = 0;
  const client = listenClientOf(sql);
  // One function for this Listener, so its entries (the first and those re-added) can be told apart.
  const onNotify = (payload: string): void => options.onNotify(payload);
  let meta: Awaited<ReturnType<Sql['listen']>>;
  // While the database is away postgres.js sends LISTEN again at every failed connection attempt,
  // and those all succeed together once it is back: one restart called onListen(true) dozens of
  // times (each a re-read of everything watched, or a look for work, and a count in the reconnect
  // metric). The calls of one such burst are told once, RECONNECT_SETTLE_MS after the first.
  let reconnect: NodeJS.Timeout | undefined;
  try {
    meta = await client.listen(channel, onNotify, () => {
      listens += 1;
      if (listens === 1) {
        options.onListen?.(false);
        return;
      }
      reconnect ??= setTimeout(() => {
        reconnect = undefined;
        options.onListen?.(true);
      }, RECONNECT_SETTLE_MS);
    });
  } catch (error) {
    // postgres.js keeps the channel with its failed LISTEN, and every later `listen` on it would
    // wait on that failure: without callbacks the entry goes, and the next LISTEN is sent afresh.
    forget(client, channel, onNotify);
    const registry = (client.listen as unknown as ListenRegistry).channels;
    if (registry?.[channel]?.listeners.length === 0) delete registry[channel];
    throw error;
  }
  return {
    close: async () => {
      clearTimeout(reconnect);
      forget(client, channel, onNotify);
      // Its own entry is gone already: this sends UNLISTEN if no other callback is left on the channel.
      const unlistened = meta.unlisten().catch(() => undefined);
      // Not waited for past UNLISTEN_WAIT_MS, nor once the database refuses connections: with the
      // database gone the statement waits for a connection that never comes (postgres.js queues it),
      // and every stop that closes a Listener (the scheduler's, the worker's, the hubs') hung with
      // it — a first SIGINT did nothing. The channel is out of postgres.js's list already, so a
      // reconnect does not LISTEN it again, and the pool's end rejects the queued statement.
      await settledOrRefused(unlistened, client, { atMostMs: UNLISTEN_WAIT_MS });
    },
  };
}

/** How long the LISTENs of one reconnect take to land together (a few ms; a later one is another reconnect). */
const RECONNECT_SETTLE_MS = 50;

/** How long a Listener's close() waits for its UNLISTEN (a few ms when the database is there). */
const UNLISTEN_WAIT_MS = 1_000;
