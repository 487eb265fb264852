import type { Executor } from '../../../db/client.js';
import { eventCtesSql, JOBS_CHANNEL, notificationCountSql } from '../../events.js';

/** A due schedule as the scheduler reads it, before deciding what to fire. */
export interface DueSchedule {
  id: string;
  tenant: string;
  key: string;
  taskName: string;
  cron: string;
  timezone: string;
  missed: string;
  overlap: string;
  version: number;
  nextRunAt: Date;
}

/**
 * Due schedules, earliest first: those not paused whose next_run_at has come by the database's
 * clock (or `now`, for tests). Walks schedules_due_idx (next_run_at WHERE NOT paused) and stops at
 * `limit`. No lock: fireSchedules claims them, and only if they are still as read (version).
 */
export async function readDueSchedules(exec: Executor, p: { limit: number; now: Date | null }): Promise<{ now: Date; due: DueSchedule[] }> {
  const rows = await exec`
    SELECT id, tenant, key, task_name, cron, timezone, missed, overlap, version, next_run_at, coalesce(${p.now}::timestamptz, now()) AS db_now
    FROM schedules
    WHERE NOT paused AND next_run_at <= coalesce(${p.now}::timestamptz, now())
    ORDER BY next_run_at
    LIMIT ${p.limit}`;
  if (rows.length === 0) {
    const [row] = await exec`SELECT coalesce(${p.now}::timestamptz, now()) AS db_now`;
    return { now: toDate((row as { dbNow: Date }).dbNow), due: [] };
  }
  const due = rows.map((r) => ({ ...(r as unknown as DueSchedule), nextRunAt: toDate(r.nextRunAt as Date) }));
  return { now: toDate((rows[0] as { dbNow: Date }).dbNow), due };
}

/**
 * The database's clock and the earliest next_run_at of a schedule not paused (null: none), read
 * by min() over schedules_due_idx: the scheduler sleeps until then.
 */
export async function readEarliestRun(exec: Executor): Promise<{ now: Date; earliest: Date | null }> {
  const [row] = await exec`SELECT now() AS db_now, (SELECT min(next_run_at) FROM schedules WHERE NOT paused) AS earliest`;
  const r = row as { dbNow: Date; earliest: Date | null };
  return { now: toDate(r.dbNow), earliest: r.earliest === null ? null : toDate(r.earliest) };
}

/** What to do with one due schedule, decided in JS from its cron (see planFiring). */
export interface FirePlan {
  scheduleId: string;
  /** The version read: the schedule is claimed only if it is still this one. */
  version: number;
  /** Occurrences to enqueue a task for, oldest first, each with the id its task gets. */
  occurrences: { taskId: string; scheduledFor: Date }[];
  /** The new next_run_at (null: the cron has no further occurrence). */
  nextRunAt: Date | null;
}

export interface FireOutcome {
  /** The database clock of the statement. */
  now: Date;
  /** Schedules claimed and advanced (the others were locked by another process, or changed since read). */
  claimed: string[];
  /** Tasks inserted. */
  fired: { id: string; scheduleId: string; scheduledFor: Date }[];
  /** Occurrences consumed without a task because overlap SKIP found the previous task unfinished. */
  overlapSkipped: number;
  /** Occurrences the unique index refused (a task for it existed already): 0 unless something is wrong. */
  duplicates: number;
}

const EVENT_CTES = eventCtesSql({ type: `'ENQUEUED'` });
const NOTIFICATION_COUNT = notificationCountSql(['woken']);

/**
 * Claims due schedules, inserts the tasks of their occurrences (with their ENQUEUED events and
 * NOTIFYs, as every insert) and advances next_run_at, in ONE statement: a process killed before
 * its commit leaves the schedule due, untouched, for another; after the commit, the tasks exist
 * and next_run_at has moved past them. So no occurrence is lost and none fires twice:
 * - `FOR UPDATE SKIP LOCKED` lets one process hold a schedule at a time and the others pass by;
 * - the claim holds only if the row is still at the version the plan was computed from (a
 *   process that read it before another fired it, or before an edit or a pause, claims nothing:
 *   PostgreSQL re-checks the condition on the newest row once it has the lock);
 * - the unique index tasks_schedule_occurrence_idx on (schedule_id, scheduled_for) is the belt:
 *   a second task for an occurrence cannot be stored (ON CONFLICT DO NOTHING, counted as
 *   `duplicates`, so one bad plan does not block a whole batch).
 * Overlap SKIP fires only an occurrence's first task, and only when the schedule's last task has
 * ended (any status not SUCCEEDED, FAILED or CANCELLED counts as unfinished, RETRYING included).
 */
export async function fireSchedules(exec: Executor, plans: readonly FirePlan[], now: Date | null): Promise<FireOutcome> {
  const input = JSON.stringify(
    plans.map((p) => ({
      s: p.scheduleId,
      v: p.version,
      nx: p.nextRunAt?.toISOString() ?? null,
      o: p.occurrences.map((o, n) => ({ i: o.taskId, f: o.scheduledFor.toISOString(), n })),
    })),
  );
  const [row] = await exec`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS x(s uuid, v int, nx timestamptz, o jsonb)
    ),
    claimed AS (
      SELECT s.id, s.tenant, s.task_name, s.args, s.kwargs, s.queue, s.priority, s.max_attempts, s.timeout_ms,
             s.result_ttl_ms, s.backoff, s.concurrency_key, s.created_by, s.overlap, s.last_task_id, input.nx, input.o
      FROM schedules s JOIN input ON s.id = input.s
      WHERE s.version = input.v AND NOT s.paused AND s.next_run_at <= coalesce(${now}::timestamptz, now())
      FOR UPDATE OF s SKIP LOCKED
    ),
    occurrences AS (
      SELECT c.*, o.i, o.f, o.n FROM claimed c CROSS JOIN LATERAL jsonb_to_recordset(c.o) AS o(i uuid, f timestamptz, n int)
    ),
    fire AS (
      SELECT * FROM occurrences oc
      WHERE oc.overlap = 'ALLOW'
         OR (oc.n = 0 AND NOT EXISTS (
               SELECT 1 FROM tasks t WHERE t.id = oc.last_task_id AND t.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')))
    ),
    changed AS (
      INSERT INTO tasks (id, name, queue, priority, args, kwargs, max_attempts, run_after, timeout_ms, result_ttl_ms,
                         backoff, tenant, created_by, concurrency_key, schedule_id, scheduled_for)
      SELECT i, task_name, queue, priority, args, kwargs, max_attempts, now(), timeout_ms, result_ttl_ms,
             backoff, tenant, created_by, concurrency_key, id, f
      FROM fire
      ON CONFLICT (schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL DO NOTHING
      RETURNING id, queue, version, status, attempts, schedule_id, scheduled_for, last_event_tx
    ),
    woken AS (
      SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM (SELECT DISTINCT queue FROM changed) q
    ),
    ${exec.unsafe(EVENT_CTES)},
    advanced AS (
      UPDATE schedules s
      SET next_run_at = c.nx,
          last_run_at = CASE WHEN l.id IS NULL THEN s.last_run_at ELSE now() END,
          last_task_id = coalesce(l.id, s.last_task_id),
          version = s.version + 1,
          updated_at = now()
      FROM claimed c
      LEFT JOIN LATERAL (SELECT ch.id FROM changed ch WHERE ch.schedule_id = c.id ORDER BY ch.scheduled_for DESC LIMIT 1) l ON true
      WHERE s.id = c.id
      RETURNING s.id
    )
    SELECT now() AS db_now,
           (SELECT coalesce(json_agg(id), '[]') FROM advanced) AS claimed,
           (SELECT coalesce(json_agg(json_build_object('id', id, 'scheduleId', schedule_id, 'scheduledFor', scheduled_for)), '[]')
              FROM changed) AS fired,
           (SELECT count(*) FROM occurrences) AS planned,
           (SELECT count(*) FROM fire) AS wanted,
           ${exec.unsafe(NOTIFICATION_COUNT)} AS notifications`;
  const r = row as { dbNow: Date; claimed: string[]; fired: { id: string; scheduleId: string; scheduledFor: string }[]; planned: number; wanted: number };
  const fired = r.fired.map((f) => ({ id: f.id, scheduleId: f.scheduleId, scheduledFor: new Date(f.scheduledFor) }));
  return {
    now: toDate(r.dbNow),
    claimed: r.claimed,
    fired,
    overlapSkipped: Number(r.planned) - Number(r.wanted),
    duplicates: Number(r.wanted) - fired.length,
  };
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}
