import type { Executor } from '../../db/client.js';
import { changeTailSql, JOBS_CHANNEL } from '../events.js';
import { toTask, type Task } from '../task.js';

/**
 * Hands running tasks back on a graceful shutdown that ran out of grace time. The
 * interrupted attempt is not held against the task: attempts goes back down and the
 * worker id of that attempt is dropped, so it waits again as PENDING (no attempt left
 * on record) or RETRYING. A task whose cancellation was requested ends CANCELLED.
 * Guarded by status, lock and attempt like completeTasks. The queues of what waits again are woken on
 * the jobs channel, as an enqueue wakes them: an idle worker takes a task handed back at once, not at
 * its next poll (a claim that landed more than its worker should hold hands the rest back for others). The rows are locked first, in id order
 * (`locked`, read by the update before it writes; docs/decisions.md "One lock order for task
 * rows"): the update alone met them in the order of `attempts` (a hash of tasks probed by the
 * list), and deadlocked with a bulk cancel of the same tasks.
 */
// A released attempt was taken back (attempts went down by one): the event names that attempt.
const TAIL = changeTailSql(
  {
    type: `CASE WHEN status = 'CANCELLED' THEN 'CANCELLED' ELSE 'RELEASED' END`,
    attempt: `CASE WHEN status = 'CANCELLED' THEN attempts ELSE attempts + 1 END`,
    worker: 'ev_worker',
  },
  ['woken'],
);

export async function releaseTasks(
  exec: Executor,
  p: { workerId: string; attempts: readonly { id: string; attempt: number }[]; defaultTtlMs: number },
): Promise<Task[]> {
  if (p.attempts.length === 0) return [];
  const ids = p.attempts.map((a) => a.id);
  const numbers = p.attempts.map((a) => a.attempt);
  const result = await exec`
    WITH locked AS (
      SELECT id FROM tasks
      WHERE (id, attempts) IN (SELECT * FROM unnest(${ids}::uuid[], ${numbers}::int[]))
        AND status = 'RUNNING' AND locked_by = ${p.workerId}
      ORDER BY id FOR NO KEY UPDATE
    ),
    changed AS (
      UPDATE tasks SET
        status = (CASE WHEN cancel_requested THEN 'CANCELLED'
                       WHEN attempts <= 1 THEN 'PENDING' ELSE 'RETRYING' END)::task_status,
        attempts = CASE WHEN cancel_requested THEN attempts ELSE attempts - 1 END,
        worker_ids = CASE WHEN cancel_requested THEN worker_ids
                          ELSE worker_ids[1:cardinality(worker_ids) - 1] END,
        started_at = CASE WHEN NOT cancel_requested AND attempts <= 1 THEN NULL ELSE started_at END,
        last_attempted_at = CASE WHEN NOT cancel_requested AND attempts <= 1 THEN NULL ELSE last_attempted_at END,
        -- Due now, in its old place: a task handed back has waited since it was due, and goes first
        -- again among its priority (now() here restarted the queue's oldest-waiting age at every hand-back).
        run_after = least(run_after, now()),
        finished_at = CASE WHEN cancel_requested THEN now() ELSE NULL END,
        expires_at = CASE WHEN cancel_requested
                     THEN now() + coalesce(result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond' END,
        version = version + 1,
        last_event_tx = greatest(last_event_tx, pg_current_xact_id()),
        locked_by = NULL,
        lease_expires_at = NULL
      WHERE (id, attempts) IN (SELECT * FROM unnest(${ids}::uuid[], ${numbers}::int[]))
        AND status = 'RUNNING' AND locked_by = ${p.workerId}
        AND (SELECT count(*) FROM locked) >= 0
      RETURNING *, ${p.workerId}::text AS ev_worker
    ),
    woken AS (
      SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM (SELECT DISTINCT queue FROM changed WHERE status <> 'CANCELLED') q
    ),
    ${exec.unsafe(TAIL)}`;
  return result.map((row) => toTask(row));
}
