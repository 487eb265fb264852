import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../db/client.js';
import { andTenant } from './get.js';
import { DEFAULT_TENANT } from './sql/insert-tasks.js';
import { TASK_STATUSES, type TaskStatus } from './states.js';

export interface QueueStats {
  queue: string;
  counts: Record<TaskStatus, number>;
  /**
   * Age in ms of the oldest task waiting to run now (PENDING/RETRYING due), or null: counted from
   * when it became due (`runAfter`), never from before it was enqueued.
   */
  oldestPendingAgeMs: number | null;
}

/**
 * Counts by queue and status, one grouped scan. On a large history this is a full scan of the
 * table (PostgreSQL 18, 100,000 tasks: a parallel seq scan, no index used, as before the age was
 * counted from enqueued_at too); it is meant for dashboards and scrapes, not hot paths. With `tenant`, only
 * that tenant's tasks are counted (a queue only another tenant uses is not listed).
 * A task's wait starts at `greatest(run_after, enqueued_at)`: a runAfter in the past (a client's
 * clock behind, `runAfter: new Date()` sent late) must not make a task enqueued seconds ago look
 * years old. Both columns are read from the row the scan visits anyway: the plan is unchanged.
 * The metrics' oldest-pending gauge, `taskwire stats` and the `queues` query asking a finished count
 * read this one query; the dashboard's queue panel (live counts only) reads liveQueueStats.
 * With `queue`, that queue's alone, by tasks_queue_id_idx (queue, id): a pause, a resume or a
 * change of limits answers with its queue's stats, and counting the whole table for them made an
 * operator's pause take a second or two at a million tasks.
 */
export async function queueStats(exec: Executor, tenant: string | null = null, queue?: string): Promise<QueueStats[]> {
  const rows = await exec`
    SELECT queue, status, count(*) AS count,
           extract(epoch FROM now() - min(greatest(run_after, enqueued_at)) FILTER (WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now())) * 1000 AS oldest_ms
    FROM tasks WHERE ${queue === undefined ? exec`true` : exec`queue = ${queue}`} ${andTenant(exec, tenant)} GROUP BY queue, status ORDER BY queue`;
  const byQueue = new Map<string, QueueStats>();
  for (const row of rows) {
    const queue = String(row.queue);
    let stats = byQueue.get(queue);
    if (!stats) {
      stats = {
        queue,
        counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>,
        oldestPendingAgeMs: null,
      };
      byQueue.set(queue, stats);
    }
    stats.counts[row.status as TaskStatus] = Number(row.count);
    if (row.oldestMs !== null && row.oldestMs !== undefined) {
      const age = Math.max(0, Math.round(Number(row.oldestMs)));
      stats.oldestPendingAgeMs = Math.max(stats.oldestPendingAgeMs ?? 0, age);
    }
  }
  return [...byQueue.values()];
}

/** The statuses of tasks not finished: what `liveQueueStats` counts (the partial indexes hold them). */
export const LIVE_STATUSES = ['BLOCKED', 'PENDING', 'RUNNING', 'RETRYING'] as const satisfies readonly TaskStatus[];
export type LiveStatus = (typeof LIVE_STATUSES)[number];

/** A queue's stats of its live tasks alone: no finished status was read (`live` says so). */
export interface LiveQueueStats {
  queue: string;
  live: true;
  counts: Record<LiveStatus, number>;
  oldestPendingAgeMs: number | null;
  /** How long the longest-running attempt (RUNNING, from its claim) has run, in ms; null when none runs: a hung handler shows here. */
  oldestRunningAgeMs: number | null;
}

/**
 * The counts of live tasks (BLOCKED, PENDING, RUNNING, RETRYING) by queue, in time proportional
 * to the backlog, not the history: the statuses as constants, so that the partial indexes match
 * (tasks_status_not_succeeded_idx (status, id) WHERE status <> 'SUCCEEDED', or the claim and
 * running indexes, as the planner picks); finished tasks are never visited. The queues listed are
 * those queueStats lists (any task of the tenant, finished ones included), found as tenantQueues
 * says (for an admin, a skip scan: one index probe per distinct queue, not a row per task). One
 * statement: the names and the counts are one snapshot.
 * With `queue`, that queue's alone (no names walked): [] when the tenant has no live task in it.
 */
export async function liveQueueStats(exec: Executor, tenant: string | null = null, queue?: string): Promise<LiveQueueStats[]> {
  const live = exec`
    SELECT queue, status, count(*) AS count,
           extract(epoch FROM now() - min(greatest(run_after, enqueued_at)) FILTER (WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now())) * 1000 AS oldest_ms,
           extract(epoch FROM now() - min(last_attempted_at) FILTER (WHERE status = 'RUNNING')) * 1000 AS oldest_running_ms
    FROM tasks
    WHERE status IN ('BLOCKED', 'PENDING', 'RUNNING', 'RETRYING') ${queue === undefined ? exec`` : exec`AND queue = ${queue}`} ${andTenant(exec, tenant)}
    GROUP BY queue, status`;
  const rows = queue !== undefined ? await live : await exec`
      WITH RECURSIVE ${tenantQueues(exec, tenant)},
      live AS MATERIALIZED (${live})
      SELECT n.queue, l.status, l.count, l.oldest_ms, l.oldest_running_ms FROM names n LEFT JOIN live l ON l.queue = n.queue
      WHERE n.queue IS NOT NULL ${tenant === DEFAULT_TENANT ? exec`
        -- A probe per queue, not an EXISTS: the planner hashed that into one scan of the whole table
        -- (the default tenant holds most rows). In tasks_queue_id_idx order, so that no plan reads
        -- the table to sort it: the queue's entries up to the first of the tenant's.
        AND (l.queue IS NOT NULL
             OR coalesce((SELECT true FROM tasks t WHERE t.queue = n.queue AND t.tenant = ${tenant} ORDER BY t.queue, t.id LIMIT 1), false))` : exec``}`;
  const byQueue = new Map<string, LiveQueueStats>();
  for (const row of rows) {
    const name = String(row.queue);
    let stats = byQueue.get(name);
    if (!stats) {
      stats = emptyLiveStats(name);
      byQueue.set(name, stats);
    }
    if (row.status === null || row.status === undefined) continue;
    stats.counts[row.status as LiveStatus] = Number(row.count);
    if (row.oldestMs !== null && row.oldestMs !== undefined) {
      stats.oldestPendingAgeMs = Math.max(stats.oldestPendingAgeMs ?? 0, Math.max(0, Math.round(Number(row.oldestMs))));
    }
    if (row.oldestRunningMs !== null && row.oldestRunningMs !== undefined) {
      stats.oldestRunningAgeMs = Math.max(stats.oldestRunningAgeMs ?? 0, Math.max(0, Math.round(Number(row.oldestRunningMs))));
    }
  }
  return [...byQueue.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
}

/** A queue's live stats with no task counted. */
export function emptyLiveStats(queue: string): LiveQueueStats {
  return { queue, live: true, counts: Object.fromEntries(LIVE_STATUSES.map((s) => [s, 0])) as Record<LiveStatus, number>, oldestPendingAgeMs: null, oldestRunningAgeMs: null };
}

/**
 * `names(queue)`: the queues listed (a NULL among them ends the skip scan). Every tenant's: a skip
 * scan of tasks_queue_id_idx (queue, id), one probe per distinct queue. The default tenant's: the
 * same, each then probed for a task of the tenant (the caller's filter: per queue at most that
 * queue's history, so never more than the table the full read scans). Another tenant's: the queues
 * of its tasks, read through tasks_tenant_not_default_idx (tenant, id), what the full read reads
 * for it; probing each queue of the deployment instead walked queues it has no task in (more blocks
 * than the table has pages, on 80,000 tasks with 600 of the tenant's).
 */
function tenantQueues(exec: Executor, tenant: string | null): PendingQuery<Row[]> {
  if (tenant !== null && tenant !== DEFAULT_TENANT) {
    return exec`names(queue) AS (SELECT DISTINCT queue FROM tasks WHERE tenant = ${tenant})`;
  }
  return exec`
    names(queue) AS (
      (SELECT queue FROM tasks ORDER BY queue LIMIT 1)
      UNION ALL
      SELECT (SELECT t.queue FROM tasks t WHERE t.queue > n.queue ORDER BY t.queue LIMIT 1) FROM names n WHERE n.queue IS NOT NULL
    )`;
}
