/**
 * The jobs channel's wake-ups (src/queue/events.ts JOBS_CHANNEL): a queue name says "tasks of this
 * queue are due now"; `due:<ms>:<queue>` says "the first task of this queue that a statement made
 * due later falls due in <ms>", so that a worker of that queue looks then rather than at its next
 * poll (a task enqueued with a later `runAfter`, a rescued task's backoff). The delay is relative to
 * the statement's clock, so the worker's clock never meets the database's: it arrives a few ms after
 * the commit, and the worker looks that much late, never early.
 */
import { JOBS_CHANNEL } from './events.js';

export const DUE_PREFIX = 'due:';

export interface DueNotice {
  queue: string;
  /** From the notification's arrival, in ms. */
  inMs: number;
}

/** The notice in a jobs-channel payload, or undefined when the payload is something else. */
export function decodeDueNotice(payload: string): DueNotice | undefined {
  if (!payload.startsWith(DUE_PREFIX)) return undefined;
  const colon = payload.indexOf(':', DUE_PREFIX.length);
  if (colon < 0) return undefined;
  const inMs = Number(payload.slice(DUE_PREFIX.length, colon));
  if (!Number.isSafeInteger(inMs) || inMs < 0) return undefined;
  return { queue: payload.slice(colon + 1), inMs };
}

/**
 * A `woken` CTE that wakes each queue of the rows in `rows` (a CTE with `queue` and `run_after`)
 * once: its name when one of them is due at `clock` (an SQL expression: the statement's reading),
 * and a due notice for the earliest of those due later. Only the earliest: a statement that makes
 * many tasks due at many times (a bulk enqueue) wakes for its first, and the rest wait for the
 * poll, as every one of them did before — one notification per queue and statement, whatever the
 * rows. `where` filters the rows (e.g. `status = 'RETRYING'`).
 * The SQL functions taskwire_enqueue (drizzle/0029) repeat this text: change them together
 * (test/queue/enqueue-function.test.ts compares their payloads).
 */
export function wakeQueuesSql(rows: string, clock: string, where = 'true'): string {
  return `woken AS (
  SELECT pg_notify('${JOBS_CHANNEL}', w.payload) FROM (
    SELECT queue, bool_or(run_after <= ${clock}) AS due_now, min(run_after) FILTER (WHERE run_after > ${clock}) AS next
    FROM ${rows} WHERE ${where} GROUP BY queue
  ) q
  CROSS JOIN LATERAL (VALUES
    (CASE WHEN q.due_now THEN q.queue END),
    (CASE WHEN q.next IS NOT NULL
          THEN '${DUE_PREFIX}' || ceil(extract(epoch FROM q.next - ${clock}) * 1000)::bigint || ':' || q.queue END)
  ) w(payload)
  WHERE w.payload IS NOT NULL
)`;
}
