import type { Executor } from '../../db/client.js';

/**
 * Deletes up to `limit` finished tasks whose retention ran out (tasks_expires_idx).
 * Batched so a large backlog never holds locks on many rows at once. Returns how many.
 */
export async function deleteExpiredTasks(exec: Executor, p: { now: Date | null; limit: number }): Promise<number> {
  const now = p.now?.toISOString() ?? null;
  const result = await exec`
    DELETE FROM tasks WHERE id IN (
      SELECT id FROM tasks
      WHERE expires_at <= coalesce(${now}::timestamptz, now())
      ORDER BY expires_at
      LIMIT ${p.limit}
      FOR UPDATE SKIP LOCKED
    )`;
  return result.count;
}
