import type { Executor } from '../db/client.js';
import { andTenant } from './get.js';
import { TASK_STATUSES, type TaskStatus } from './states.js';

export interface QueueStats {
  queue: string;
  counts: Record<TaskStatus, number>;
  /** Age in ms of the oldest task waiting to run now (PENDING/RETRYING due), or null. */
  oldestPendingAgeMs: number | null;
}

/**
 * Counts by queue and status, one grouped scan. On a large history this is a full
 * scan of tasks_queue_id_idx; it is meant for dashboards, not hot paths. With `tenant`, only
 * that tenant's tasks are counted (a queue only another tenant uses is not listed).
 */
export async function queueStats(exec: Executor, tenant: string | null = null): Promise<QueueStats[]> {
  const rows = await exec`
    SELECT queue, status, count(*) AS count,
           extract(epoch FROM now() - min(run_after) FILTER (WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now())) * 1000 AS oldest_ms
    FROM tasks WHERE true ${andTenant(exec, tenant)} GROUP BY queue, status ORDER BY queue`;
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
