import type { Executor } from '../../db/client.js';
import { toTask, type Task } from '../task.js';

/**
 * The tasks RUNNING under `workerId`'s lock, as the database has them: what a worker compares with
 * what it holds after a claim failed in a way that may have committed (src/worker/claim-loop.ts).
 * Through tasks_lease_idx (partial: RUNNING only), so it reads the running tasks, never the backlog
 * or the history; run only after such a failure, never on a hot path.
 */
export async function tasksLockedBy(exec: Executor, workerId: string): Promise<Task[]> {
  const rows = await exec`
    SELECT * FROM tasks
    WHERE status = 'RUNNING' AND lease_expires_at IS NOT NULL AND locked_by = ${workerId}`;
  return rows.map((row) => toTask(row));
}
