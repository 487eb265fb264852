import type { Executor } from '../db/client.js';
import { BadUserInputError } from '../errors.js';
import { refusedCursor } from './cursor-kinds.js';
import { andTenant } from './get.js';
import { EVENT_COLUMNS, toTaskEventRecord, type FeedPosition, type TaskEventRecord } from './event-log.js';
import type { Task } from './task.js';

/**
 * The global feed: every event of every task, in a final order, resumable from any position.
 *
 * Why not just `seq > last`: sequence values are taken when a row is written, not when its
 * transaction commits, so a transaction that commits late makes a smaller `seq` appear after a
 * reader already went past it — and a naive reader skips it forever. Instead each event
 * records its transaction id (`tx`, xid8), and the feed is ordered by (tx, seq) but read only
 * below the oldest transaction still running (pg_snapshot_xmin of the current snapshot):
 * every transaction below that has ended, so no new row can ever appear behind the position
 * a reader reached. The price: a transaction that stays open (on this database, writing or
 * not yet) holds the feed back until it ends; the events wait, none is lost.
 * Uses task_events_feed_idx (tx, seq).
 */

/**
 * A feed event with what the feed's filter needs of its task: every field of the task that
 * matchesFilter (task-filter-match.js) reads besides the status, which is the event's.
 */
export interface FeedEvent extends TaskEventRecord {
  task: Pick<Task, 'name' | 'queue' | 'tenant' | 'workflowId' | 'enqueuedAt'>;
}

export interface FeedPage {
  events: FeedEvent[];
  /** Where a reader stands after this page: its last event's position, or the one it started from. */
  position: FeedPosition;
  /** The page was full: more may be readable at once. */
  full: boolean;
  /** Events exist beyond the readable range (written by transactions still open): read again soon. */
  held: boolean;
  /** The horizon the page was read below (pg_snapshot_xmin): one that stays while `held` is a transaction holding the feed back. */
  horizon: string;
}

export const MAX_FEED_PAGE_SIZE = 1000;

/** An opaque cursor: the position, base64url-encoded. */
export function encodeFeedCursor(p: FeedPosition): string {
  return Buffer.from(`feed:${p.tx}:${p.seq}`).toString('base64url');
}

/** The largest xid8 (an unsigned 64-bit transaction id). */
const MAX_XID8 = 2n ** 64n - 1n;

/**
 * The position a cursor names.
 * Why the range checks: a position is the start of a read shared by every subscriber behind the
 * feed's tail (feed-fanout.ts), so one PostgreSQL refuses (a tx above xid8's range, a seq above
 * bigint's) would fail that read for all of them. `seq` is carried as a JS number, so it must
 * also be exact: above Number.MAX_SAFE_INTEGER it would be rounded to another position.
 * @throws BadUserInputError naming `field` when it is not a position this API could have given
 */
export function decodeFeedCursor(cursor: string, field: string): FeedPosition {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [kind, tx, seq, ...rest] = text.split(':');
  if (
    kind !== 'feed' ||
    rest.length > 0 ||
    !tx ||
    !/^\d{1,20}$/.test(tx) ||
    BigInt(tx) > MAX_XID8 ||
    !seq ||
    !/^\d{1,19}$/.test(seq) ||
    !Number.isSafeInteger(Number(seq))
  ) {
    throw refusedCursor(field, text, 'feed');
  }
  // Canonical decimal (no leading zeros), as PostgreSQL prints xid8: compareFeedPositions' fast path relies on it.
  return { tx: BigInt(tx).toString(), seq: Number(seq) };
}

/** -1, 0 or 1 as `a` is before, at or after `b` in the feed. */
export function compareFeedPositions(a: FeedPosition, b: FeedPosition): number {
  if (a.tx !== b.tx) return compareDecimals(a.tx, b.tx);
  return a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1;
}

/**
 * Compares two unsigned decimal texts without BigInt: the fan-out compares positions once per
 * event per subscriber, and parsing two BigInts each time showed in its profile. Digit strings of
 * one length compare as text; of different lengths and without leading zeros (how PostgreSQL
 * prints xid8 and decodeFeedCursor keeps them), the longer is larger; anything else via BigInt.
 */
function compareDecimals(a: string, b: string): number {
  if (a.length === b.length) return a < b ? -1 : a > b ? 1 : 0;
  if (a[0] !== '0' && b[0] !== '0') return a.length < b.length ? -1 : 1;
  const ta = BigInt(a);
  const tb = BigInt(b);
  return ta === tb ? 0 : ta < tb ? -1 : 1;
}

/** The feed's end (a position) and the next transaction id, past every event this database holds. */
export interface FeedEnd extends FeedPosition {
  /** No transaction at or past this id has begun: a cursor past it is of another database, or of this one before a restore. */
  next: string;
}

/**
 * The feed's end now: the oldest transaction still running in the cluster (the horizon). A reader
 * starting here gets every event committed from now on, and also those of transactions that began
 * after that oldest one and have committed already: a start "now" may include the recent past.
 */
export async function feedEnd(exec: Executor): Promise<FeedEnd> {
  const [row] = await exec`SELECT pg_snapshot_xmin(s)::text AS tx, pg_snapshot_xmax(s)::text AS next FROM pg_current_snapshot() s`;
  return { tx: String(row?.tx), seq: 0, next: String(row?.next) };
}

/**
 * Up to `limit` events after `after`, in feed order, only from ended transactions (see above);
 * with `upTo`, none past that position. Events of deleted tasks are gone with them. With
 * `tenant`, only that tenant's events.
 */
export async function readFeed(
  exec: Executor,
  p: { after: FeedPosition; upTo?: FeedPosition | null; limit: number },
  tenant: string | null = null,
): Promise<FeedPage> {
  const upToTx = p.upTo?.tx ?? null;
  const upToSeq = p.upTo?.seq ?? null;
  // One query, one row at least: an empty page still says whether events wait behind the horizon.
  // `held` is the log's last transaction, one probe from the end of task_events_feed_idx: an
  // EXISTS (… WHERE tx >= horizon) was planned as a sequential scan of the whole log (its bound is
  // known only when it runs), which found nothing and so read every row, on every read of every feed.
  const rows = await exec`
    WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
    page AS (
      SELECT ${exec.unsafe(EVENT_COLUMNS)}, t.name AS task_name, t.queue AS task_queue, t.tenant AS task_tenant,
             t.workflow_id AS task_workflow_id, t.enqueued_at AS task_enqueued_at
      FROM task_events e JOIN tasks t ON t.id = e.task_id
      WHERE (e.tx, e.seq) > (${p.after.tx}::xid8, ${p.after.seq}::bigint)
        AND e.tx < (SELECT xmin FROM horizon)
        AND (${upToTx}::xid8 IS NULL OR (e.tx, e.seq) <= (${upToTx}::xid8, ${upToSeq}::bigint))
        ${andTenant(exec, tenant, 't.tenant')}
      ORDER BY e.tx, e.seq
      LIMIT ${p.limit}
    )
    SELECT page.*, (SELECT h.tx FROM task_events h ORDER BY h.tx DESC LIMIT 1) >= (SELECT xmin FROM horizon) AS held,
           (SELECT xmin FROM horizon)::text AS horizon
    FROM (SELECT 1) one LEFT JOIN page ON true
    ORDER BY page.tx::xid8, page.seq`;
  const held = Boolean(rows[0]?.held);
  const events = rows
    .filter((row) => row.taskId != null)
    .map((row) => {
      const event = toTaskEventRecord(row) as FeedEvent;
      const enqueuedAt = row.taskEnqueuedAt as Date | string;
      event.task = {
        name: String(row.taskName),
        queue: String(row.taskQueue),
        tenant: String(row.taskTenant),
        workflowId: row.taskWorkflowId == null ? null : String(row.taskWorkflowId),
        enqueuedAt: enqueuedAt instanceof Date ? enqueuedAt : new Date(enqueuedAt),
      };
      return event;
    });
  return {
    events,
    position: events.at(-1)?.position ?? p.after,
    full: events.length === p.limit,
    held,
    horizon: String(rows[0]?.horizon),
  };
}
