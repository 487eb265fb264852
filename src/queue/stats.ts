import type { Executor } from '../db/client.js';
import { andTenant } from './get.js';
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
 * The metrics' oldest-pending gauge, `taskwire stats` and the dashboard all read this one query.
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
