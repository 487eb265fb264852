import type { Executor } from '../../../db/client.js';
import { changeTailSql, JOBS_CHANNEL } from '../../events.js';
import { toTask, type Backoff, type Task } from '../../task.js';
import { SCHEDULES_CHANNEL } from '../channel.js';
import type { MissedRunPolicy, OverlapPolicy, Schedule } from '../types.js';

/** A validated schedule to store; JSON columns already encoded. */
export interface ScheduleRow {
  id: string;
  tenant: string;
  key: string;
  cron: string;
  timezone: string;
  taskName: string;
  args: string;
  kwargs: string;
  queue: string;
  priority: number;
  maxAttempts: number;
  timeoutMs: number | null;
  resultTtlMs: number | null;
  backoff: Backoff | null;
  concurrencyKey: string | null;
  createdBy: string | null;
  /** Undefined: ALLOW on insert, unchanged on update (likewise missed and paused). */
  overlap: OverlapPolicy | undefined;
  missed: MissedRunPolicy | undefined;
  paused: boolean | undefined;
  /** The first occurrence after the database's now, for a new schedule or a changed cron/timezone (or a resume). */
  nextRunAt: Date | null;
}

/** The database clock. */
export async function databaseNow(exec: Executor): Promise<Date> {
  const [row] = await exec`SELECT now() AS db_now`;
  return toDate((row as { dbNow: Date }).dbNow);
}

/**
 * Inserts a schedule or updates the one of its (tenant, key) (schedules_tenant_key_idx), and
 * wakes the schedulers (NOTIFY in the same statement). An update keeps next_run_at unless the
 * cron or the time zone changed, it had none (a cron that stopped parsing), or `paused: false` resumes it: then it takes `nextRunAt`, the
 * first occurrence after now, so a change never replays the past. `paused` unset leaves it as it is.
 */
export async function upsertSchedule(exec: Executor, r: ScheduleRow): Promise<Schedule> {
  const [row] = await exec`
    WITH up AS (
      INSERT INTO schedules AS s (id, tenant, key, cron, timezone, task_name, args, kwargs, queue, priority, max_attempts,
                                  timeout_ms, result_ttl_ms, backoff, concurrency_key, created_by, overlap, missed, paused, next_run_at)
      VALUES (${r.id}, ${r.tenant}, ${r.key}, ${r.cron}, ${r.timezone}, ${r.taskName}, ${r.args}::jsonb, ${r.kwargs}::jsonb,
              ${r.queue}, ${r.priority}, ${r.maxAttempts}, ${r.timeoutMs}, ${r.resultTtlMs},
              ${r.backoff === null ? null : JSON.stringify(r.backoff)}::jsonb, ${r.concurrencyKey}, ${r.createdBy},
              coalesce(${r.overlap ?? null}, 'ALLOW'), coalesce(${r.missed ?? null}, 'RUN_ONCE'), coalesce(${r.paused ?? null}::boolean, false),
              ${r.nextRunAt})
      ON CONFLICT (tenant, key) DO UPDATE SET
        cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, task_name = EXCLUDED.task_name, args = EXCLUDED.args,
        kwargs = EXCLUDED.kwargs, queue = EXCLUDED.queue, priority = EXCLUDED.priority, max_attempts = EXCLUDED.max_attempts,
        timeout_ms = EXCLUDED.timeout_ms, result_ttl_ms = EXCLUDED.result_ttl_ms, backoff = EXCLUDED.backoff,
        concurrency_key = EXCLUDED.concurrency_key, created_by = EXCLUDED.created_by,
        overlap = coalesce(${r.overlap ?? null}, s.overlap),
        missed = coalesce(${r.missed ?? null}, s.missed),
        paused = coalesce(${r.paused ?? null}::boolean, s.paused),
        next_run_at = CASE
          WHEN s.cron <> EXCLUDED.cron OR s.timezone <> EXCLUDED.timezone OR s.next_run_at IS NULL
            OR (s.paused AND ${r.paused ?? null}::boolean IS FALSE)
          THEN EXCLUDED.next_run_at ELSE s.next_run_at END,
        version = s.version + 1,
        updated_at = now()
      RETURNING s.*
    ),
    woken AS (SELECT pg_notify(${SCHEDULES_CHANNEL}, id::text) FROM up)
    SELECT up.*, (SELECT count(*) FROM woken) AS notifications FROM up`;
  return toSchedule(row as Record<string, unknown>);
}

/** A schedule by (tenant, key) (schedules_tenant_key_idx). */
export async function getSchedule(exec: Executor, tenant: string, key: string): Promise<Schedule | undefined> {
  const [row] = await exec`SELECT * FROM schedules WHERE tenant = ${tenant} AND key = ${key}`;
  return row ? toSchedule(row) : undefined;
}

export async function pauseSchedule(exec: Executor, tenant: string, key: string): Promise<Schedule | undefined> {
  const [row] = await exec`
    UPDATE schedules SET paused = true, version = version + 1, updated_at = now()
    WHERE tenant = ${tenant} AND key = ${key} RETURNING *`;
  return row ? toSchedule(row) : undefined;
}

/**
 * Unpauses the schedule at `version` (the one its `nextRunAt`, the first occurrence after now,
 * was computed from) and wakes the schedulers. Undefined when it changed meanwhile (read again).
 */
export async function resumeSchedule(exec: Executor, id: string, version: number, nextRunAt: Date | null): Promise<Schedule | undefined> {
  const [row] = await exec`
    WITH up AS (
      UPDATE schedules SET paused = false, next_run_at = ${nextRunAt}, version = version + 1, updated_at = now()
      WHERE id = ${id} AND version = ${version} RETURNING *
    ),
    woken AS (SELECT pg_notify(${SCHEDULES_CHANNEL}, id::text) FROM up)
    SELECT up.*, (SELECT count(*) FROM woken) AS notifications FROM up`;
  return row ? toSchedule(row) : undefined;
}

/** Deletes the schedule; its tasks stay (tasks.schedule_id has no foreign key: it then names no schedule). */
export async function deleteSchedule(exec: Executor, tenant: string, key: string): Promise<boolean> {
  const rows = await exec`DELETE FROM schedules WHERE tenant = ${tenant} AND key = ${key} RETURNING id`;
  return rows.length > 0;
}

/**
 * Enqueues the schedule's task now, outside its occurrences (scheduled_for NULL, so the unique
 * index does not apply), with its ENQUEUED event and NOTIFYs, and records it as the last run.
 * Undefined when there is no such schedule.
 */
export async function triggerSchedule(exec: Executor, tenant: string, key: string, taskId: string): Promise<Task | undefined> {
  const [row] = await exec`
    WITH s AS (SELECT * FROM schedules WHERE tenant = ${tenant} AND key = ${key} FOR UPDATE),
    changed AS (
      INSERT INTO tasks (id, name, queue, priority, args, kwargs, max_attempts, run_after, timeout_ms, result_ttl_ms,
                         backoff, tenant, created_by, concurrency_key, schedule_id)
      SELECT ${taskId}, task_name, queue, priority, args, kwargs, max_attempts, now(), timeout_ms, result_ttl_ms,
             backoff, tenant, created_by, concurrency_key, id
      FROM s
      RETURNING *
    ),
    woken AS (SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM changed),
    recorded AS (
      UPDATE schedules SET last_run_at = now(), last_task_id = ${taskId}, version = version + 1, updated_at = now()
      WHERE id = (SELECT id FROM s)
    ),
    ${exec.unsafe(changeTailSql({ type: `'ENQUEUED'` }, ['woken']).replace(/^\s*\n/, ''))}`;
  return row ? toTask(row) : undefined;
}

/** A page of schedules ordered by (key, id), after the cursor's; `tenant` null: every tenant's. */
export async function listSchedules(
  exec: Executor,
  p: { tenant: string | null; limit: number; after: { key: string; id: string } | null },
): Promise<{ rows: Schedule[]; more: boolean }> {
  const rows = await exec`
    SELECT * FROM schedules
    WHERE ${p.tenant === null ? exec`true` : exec`tenant = ${p.tenant}`}
      AND ${p.after === null ? exec`true` : exec`(key, id) > (${p.after.key}, ${p.after.id}::uuid)`}
    ORDER BY key, id
    LIMIT ${p.limit + 1}`;
  return { rows: rows.slice(0, p.limit).map((r) => toSchedule(r)), more: rows.length > p.limit };
}

export async function countSchedules(exec: Executor, tenant: string | null): Promise<number> {
  const [row] = await exec`SELECT count(*) AS count FROM schedules WHERE ${tenant === null ? exec`true` : exec`tenant = ${tenant}`}`;
  return Number(row?.count ?? 0);
}

/** A schedule's tasks, newest first, by keyset on the id (tasks_schedule_id_idx). */
export async function listScheduleRuns(
  exec: Executor,
  p: { scheduleId: string; limit: number; before: string | null },
): Promise<{ tasks: Task[]; more: boolean }> {
  const rows = await exec`
    SELECT * FROM tasks
    WHERE schedule_id = ${p.scheduleId} ${p.before === null ? exec`` : exec`AND id < ${p.before}`}
    ORDER BY id DESC
    LIMIT ${p.limit + 1}`;
  return { tasks: rows.slice(0, p.limit).map((r) => toTask(r)), more: rows.length > p.limit };
}

export async function countScheduleRuns(exec: Executor, scheduleId: string): Promise<number> {
  const [row] = await exec`SELECT count(*) AS count FROM tasks WHERE schedule_id = ${scheduleId}`;
  return Number(row?.count ?? 0);
}

/** A camelCased schedules row as a Schedule; `nextRunAt` reads null while paused (nothing will fire). */
export function toSchedule(r: Record<string, unknown>): Schedule {
  const paused = r.paused as boolean;
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    key: r.key as string,
    cron: r.cron as string,
    timezone: r.timezone as string,
    taskName: r.taskName as string,
    args: r.args as Schedule['args'],
    kwargs: r.kwargs as Schedule['kwargs'],
    queue: r.queue as string,
    priority: r.priority as number,
    maxAttempts: r.maxAttempts as number,
    timeoutMs: (r.timeoutMs as number | null) ?? null,
    resultTtlMs: (r.resultTtlMs as number | null) ?? null,
    backoff: (r.backoff as Backoff | null) ?? null,
    concurrencyKey: (r.concurrencyKey as string | null | undefined) ?? null,
    overlap: r.overlap as OverlapPolicy,
    missed: r.missed as MissedRunPolicy,
    paused,
    nextRunAt: paused || r.nextRunAt === null ? null : toDate(r.nextRunAt as Date),
    lastRunAt: r.lastRunAt === null ? null : toDate(r.lastRunAt as Date),
    lastTaskId: (r.lastTaskId as string | null) ?? null,
    version: r.version as number,
    createdAt: toDate(r.createdAt as Date),
    updatedAt: toDate(r.updatedAt as Date),
  };
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}
