import type { Executor } from '../../db/client.js';
import { changeTailSql, JOBS_CHANNEL } from '../events.js';
import { andTenant } from '../get.js';
import { toTask, type Task } from '../task.js';

/**
 * FAILED or CANCELLED → PENDING, keeping its history (errors, worker ids, attempts) and
 * granting `extraAttempts` more attempts. No row: the task is not FAILED/CANCELLED, or absent
 * (with `tenant`: or another tenant's).
 */
const TAIL = changeTailSql({ type: `'RETRIED'` }, ['woken']);

export async function requeueTask(exec: Executor, p: { id: string; extraAttempts: number; tenant?: string | null }): Promise<Task | undefined> {
  const result = await exec`
    WITH changed AS (
      UPDATE tasks SET
        status = 'PENDING',
        max_attempts = attempts + ${p.extraAttempts},
        cancel_requested = false,
        run_after = now(),
        finished_at = NULL,
        expires_at = NULL,
        return_value = NULL,
        progress = NULL,
        version = version + 1
      WHERE id = ${p.id} ${andTenant(exec, p.tenant ?? null)} AND status IN ('FAILED', 'CANCELLED')
      RETURNING *
    ),
    woken AS (SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM changed),
    ${exec.unsafe(TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
