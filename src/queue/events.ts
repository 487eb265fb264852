import type { Sql } from '../db/client.js';
import { isTaskStatus, type TaskStatus } from './states.js';

/**
 * Two channels. `taskwire_jobs` wakes workers (payload: a queue name, or `cancel:<id>`);
 * `taskwire_events` feeds subscriptions. Every statement that changes tasks sends its
 * events in the same statement (see NOTIFY_EVENTS below), so they commit or roll back together.
 */
export const JOBS_CHANNEL = 'taskwire_jobs';
export const EVENTS_CHANNEL = 'taskwire_events';

/** What a notification says about one change; the row itself is read by whoever cares. */
export interface TaskEvent {
  id: string;
  version: number;
  status: TaskStatus;
}

/**
 * Events travel as `id:version:status` joined by commas, up to 100 per NOTIFY (about
 * 5 KB, under PostgreSQL's 8,000-byte payload limit), so a batch of 1,000 changes costs 10
 * notifications rather than 1,000.
 */
export function decodeEvents(payload: string): TaskEvent[] {
  const events: TaskEvent[] = [];
  for (const part of payload.split(',')) {
    const [id, version, status] = part.split(':');
    if (!id || !version || !isTaskStatus(status)) continue;
    events.push({ id, version: Number(version), status });
  }
  return events;
}

export function encodeEvents(events: readonly TaskEvent[]): string {
  return events.map((e) => `${e.id}:${e.version}:${e.status}`).join(',');
}

/**
 * The SQL tail shared by every changing statement: given a CTE named `changed` holding the
 * changed rows, it sends their events and selects the rows. `alsoRun` names other CTEs
 * (wake-ups) that must run too: a CTE that nothing reads is never executed.
 * Spliced in as text; it holds no parameters.
 */
export function notifyEventsSql(alsoRun: readonly string[] = []): string {
  const counts = ['notified', ...alsoRun].map((cte) => `(SELECT count(*) FROM ${cte})`).join(' + ');
  return `
notified AS (
  SELECT pg_notify('${EVENTS_CHANNEL}', string_agg(id::text || ':' || version || ':' || status, ','))
  FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
  GROUP BY chunk
)
SELECT changed.*, ${counts} AS notifications FROM changed`;
}

export const NOTIFY_EVENTS = notifyEventsSql();

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
 * LISTEN on one channel over the pool's dedicated listening connection. postgres.js
 * shares that one connection between all `listen` calls of a pool and re-LISTENs
 * after reconnecting, calling `onlisten` each time.
 */
export async function listen(sql: Sql, channel: string, options: ListenOptions): Promise<Listener> {
  let listens = 0;
  const meta = await sql.listen(
    channel,
    (payload) => options.onNotify(payload),
    () => {
      listens += 1;
      options.onListen?.(listens > 1);
    },
  );
  return { close: () => meta.unlisten() };
}
