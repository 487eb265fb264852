import type { Executor } from '../../db/client.js';
import { changeTailSql } from '../events.js';
import { toTask, type Task } from '../task.js';

export interface ClaimParams {
  workerId: string;
  /** Most tasks to claim. */
  limit: number;
  /** Only these queues; empty for every queue. */
  queues: readonly string[];
  leaseMs: number;
}

/**
 * Claims up to `limit` runnable tasks for one worker (River's shape): pick in priority
 * order with FOR UPDATE SKIP LOCKED, so concurrent workers never wait on each other or
 * take the same task, then mark them RUNNING with a lease, one attempt more and the
 * worker's id appended, log a STARTED event and announce the change — one statement, one round trip.
 * Walks tasks_claim_idx (priority DESC, run_after, id WHERE status IN PENDING/RETRYING).
 * Queues that are paused or limited (a row in `queues`, docs/flow-control.md) are left out: the
 * limited ones are claimed under their queue's lock by claimLimitedTasks
 * (src/queue/queue-control/sql/claim-limited-tasks.ts), so that a limit holds across workers;
 * the `held` list is read once per statement (an InitPlan over the small queues table).
 */
const TAIL = changeTailSql({ type: `'STARTED'`, worker: 'locked_by' });

export async function claimTasks(exec: Executor, p: ClaimParams): Promise<Task[]> {
  const queues = p.queues as string[];
  const result = await exec`
    WITH held AS (
      SELECT coalesce(array_agg(name), '{}') AS names FROM queues
      WHERE paused OR concurrency IS NOT NULL OR rate_max IS NOT NULL OR per_key_concurrency IS NOT NULL
    ),
    next AS (
      SELECT id FROM tasks
      WHERE status IN ('PENDING', 'RETRYING')
        AND run_after <= now()
        AND (cardinality(${queues}::text[]) = 0 OR queue = ANY(${queues}::text[]))
        AND queue <> ALL ((SELECT names FROM held)::text[])
      ORDER BY priority DESC NULLS LAST, run_after, id
      LIMIT ${p.limit}
      FOR UPDATE SKIP LOCKED
    ),
    changed AS (
      UPDATE tasks t SET
        status = 'RUNNING',
        attempts = t.attempts + 1,
        version = t.version + 1,
        started_at = coalesce(t.started_at, clock_timestamp()),
        last_attempted_at = clock_timestamp(),
        worker_ids = array_append(t.worker_ids, ${p.workerId}::text),
        locked_by = ${p.workerId},
        lease_expires_at = now() + ${p.leaseMs} * interval '1 millisecond'
      FROM next WHERE t.id = next.id
      RETURNING t.*
    ),
    ${exec.unsafe(TAIL)}`;
  return result
    .map((row) => toTask(row))
    .sort((a, b) => b.priority - a.priority || a.runAfter.getTime() - b.runAfter.getTime() || (a.id < b.id ? -1 : 1));
}
