import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../db/client.js';
import { refusedCursor } from './cursor-kinds.js';
import { pageSizeOf } from './page-size.js';
import type { JsonValue } from './json.js';
import type { TaskEventType, TaskStatus } from './states.js';
import type { TaskError, TaskProgress } from './task.js';
import { isUuid } from './uuid.js';

/**
 * Where an event stands in the global feed (src/queue/event-feed.ts): the writing
 * transaction's 64-bit id (as decimal text: it can exceed 2^53) and the global sequence.
 */
export interface FeedPosition {
  tx: string;
  seq: number;
}

/** One entry of a task's event log (table task_events; DESIGN.md Part 2 §A). */
export interface TaskEventRecord {
  taskId: string;
  /** The task's version after this event: 1 = ENQUEUED, then 2, 3, … with no gap. */
  version: number;
  type: TaskEventType;
  /** The task's status right after this event. */
  status: TaskStatus;
  at: Date;
  attempt: number;
  workerId: string | null;
  progress: TaskProgress | null;
  error: TaskError | null;
  /** OUTPUT: one chunk, as the handler wrote it. */
  output: JsonValue | null;
  position: FeedPosition;
}

export interface TaskEventPage {
  events: TaskEventRecord[];
  hasNextPage: boolean;
  /** Whether events (of the types asked for) come before the page. */
  hasPreviousPage: boolean;
}

export const MAX_EVENT_PAGE_SIZE = 1000;
export const DEFAULT_EVENT_PAGE_SIZE = 100;

/** The columns every event read selects (the feed position as text: xid8 has no JSON mapping). */
export const EVENT_COLUMNS =
  'e.task_id, e.version, e.type, e.status, e.at, e.attempt, e.worker_id, e.progress, e.error, e.output, e.tx::text AS tx, e.seq';

/** Maps a camelCased task_events row (EVENT_COLUMNS) to a record; JSON dates become Dates. */
export function toTaskEventRecord(row: Record<string, unknown>): TaskEventRecord {
  const r = row as {
    taskId: string;
    version: number;
    type: TaskEventType;
    status: TaskStatus;
    at: Date | string;
    attempt: number;
    workerId: string | null;
    progress: { current?: number | null; total?: number | null; message?: string | null; updatedAt: string } | null;
    error: { exceptionType: string; message: string; traceback?: string | null; attempt: number; at: string; workerId?: string | null } | null;
    output: JsonValue | null;
    tx: string;
    seq: number | string;
  };
  return {
    taskId: r.taskId,
    version: r.version,
    type: r.type,
    status: r.status,
    at: r.at instanceof Date ? r.at : new Date(r.at),
    attempt: r.attempt,
    workerId: r.workerId,
    progress: r.progress
      ? { current: r.progress.current ?? null, total: r.progress.total ?? null, message: r.progress.message ?? null, updatedAt: new Date(r.progress.updatedAt) }
      : null,
    error: r.error
      ? {
          exceptionType: r.error.exceptionType,
          message: r.error.message,
          traceback: r.error.traceback ?? null,
          attempt: r.error.attempt,
          at: new Date(r.error.at),
          workerId: r.error.workerId ?? null,
        }
      : null,
    output: r.output ?? null,
    position: { tx: r.tx, seq: Number(r.seq) },
  };
}

/** An opaque cursor within one task's log: the version, base64url-encoded. */
export function encodeVersionCursor(version: number): string {
  return Buffer.from(`version:${version}`).toString('base64url');
}

/** The largest version: task_events.version is an integer (int4). */
const MAX_VERSION = 2_147_483_647;

/**
 * The version a cursor names: plain decimal digits within the version column's range (int4), as
 * encodeVersionCursor writes them. Why not Number(): it takes `` as 0, `1e3` and `0x10` too, and a
 * version past int4 would reach PostgreSQL and fail there as an internal error.
 * @throws BadUserInputError naming `field` when it is not a cursor this API could have given
 */
export function decodeVersionCursor(cursor: string, field: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const digits = /^version:(\d{1,10})$/.exec(text)?.[1];
  const version = digits === undefined ? NaN : Number(digits);
  if (!(version <= MAX_VERSION)) throw refusedCursor(field, text, 'version');
  return version;
}

export interface ListEventsParams {
  taskId: string;
  /** Events after this version (default 0: from the start). */
  afterVersion?: number;
  /** Events before this version (default: up to the latest). */
  beforeVersion?: number;
  /** The first events of the window (default 100 when `last` is absent). */
  first?: number;
  /** The last events of the window instead, still oldest first: the latest N with no `beforeVersion`. */
  last?: number;
  /** Only these types (all when empty or absent). */
  types?: readonly TaskEventType[];
}

/**
 * A page of one task's events, oldest first, by keyset on the version (task_events_pkey, walked
 * forward from `afterVersion` for `first`, backward from `beforeVersion` or the end for `last`).
 * With `tenant`, another tenant's task has an empty log, like an unknown one.
 */
export async function listTaskEvents(exec: Executor, p: ListEventsParams, tenant: string | null = null): Promise<TaskEventPage> {
  const { size, backward } = pageSizeOf(p, DEFAULT_EVENT_PAGE_SIZE, MAX_EVENT_PAGE_SIZE);
  const afterVersion = p.afterVersion ?? 0;
  if (!isUuid(p.taskId)) return { events: [], hasNextPage: false, hasPreviousPage: false };
  const types = p.types && p.types.length > 0 ? (p.types as string[]) : null;
  const where = (versions: PendingQuery<Row[]>): PendingQuery<Row[]> => exec`
    e.task_id = ${p.taskId} AND ${versions}
      AND (${types}::task_event_type[] IS NULL OR e.type = ANY(${types}::task_event_type[]))
      ${tenant === null ? exec`` : exec`AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = ${p.taskId} AND t.tenant = ${tenant})`}`;
  const window = p.beforeVersion === undefined ? exec`e.version > ${afterVersion}` : exec`e.version > ${afterVersion} AND e.version < ${p.beforeVersion}`;
  const rows = await exec`
    SELECT ${exec.unsafe(EVENT_COLUMNS)} FROM task_events e
    WHERE ${where(window)}
    ORDER BY e.version ${backward ? exec`DESC` : exec`ASC`}
    LIMIT ${size + 1}`;
  const more = rows.length > size;
  const events = rows.slice(0, size).map((row) => toTaskEventRecord(row));
  if (backward) events.reverse();
  // Past `before` comes the page after the window: one probe next to it (same key), when the page
  // itself cannot say (backward, or forward to the window's end).
  const beyondBefore = async (): Promise<boolean> =>
    p.beforeVersion !== undefined &&
    (await exec`SELECT 1 FROM task_events e WHERE ${where(exec`e.version >= ${p.beforeVersion}`)} ORDER BY e.version LIMIT 1`).length > 0;
  // Before `after`: every version from 1 exists, so any cursor has events before it, unless only some
  // types are asked for; then one probe back from the cursor (a "load earlier" drawn over nothing).
  const beforeAfter = async (): Promise<boolean> =>
    afterVersion > 0 &&
    (types === null || (await exec`SELECT 1 FROM task_events e WHERE ${where(exec`e.version <= ${afterVersion}`)} ORDER BY e.version DESC LIMIT 1`).length > 0);
  if (!backward) return { events, hasNextPage: more || (await beyondBefore()), hasPreviousPage: await beforeAfter() };
  return { events, hasNextPage: await beyondBefore(), hasPreviousPage: more };
}

/** What one reader wants of one task's log: the events after `afterVersion`. */
export interface LogWant {
  id: string;
  afterVersion: number;
}

/**
 * The events after a version of many tasks at once, up to `limitPerTask` each, in
 * (task, version) order: one query for every task a burst of notifications named
 * (task_events_pkey, one range scan per task). A task that returned `limitPerTask` events may
 * have more. With `tenant`, other tenants' tasks have no events (their wants are dropped).
 */
export async function readEventsAfter(
  exec: Executor,
  wants: readonly LogWant[],
  limitPerTask: number,
  tenant: string | null = null,
): Promise<TaskEventRecord[]> {
  if (wants.length === 0) return [];
  const ids = wants.map((w) => w.id);
  const after = wants.map((w) => w.afterVersion);
  const rows = await exec`
    SELECT ${exec.unsafe(EVENT_COLUMNS)}
    FROM unnest(${ids}::uuid[], ${after}::int[]) AS w(id, after)
    ${tenant === null ? exec`` : exec`JOIN tasks t ON t.id = w.id AND t.tenant = ${tenant}`}
    CROSS JOIN LATERAL (
      SELECT * FROM task_events e WHERE e.task_id = w.id AND e.version > w.after ORDER BY e.version LIMIT ${limitPerTask}
    ) e`;
  return rows.map((row) => toTaskEventRecord(row));
}
