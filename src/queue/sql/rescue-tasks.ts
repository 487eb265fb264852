import type { Executor } from '../../db/client.js';
import { DEFAULT_BACKOFF } from '../backoff.js';
import { JOBS_CHANNEL, notifyEventsSql } from '../events.js';
import { toTask, type Task } from '../task.js';

/**
 * Running tasks whose lease ran out (their worker stopped heart-beating: killed, hung,
 * partitioned) get a `WorkerLost` error for that attempt, then RETRYING with backoff while
 * attempts are left, else FAILED; CANCELLED if cancellation was requested.
 * SKIP LOCKED so a worker finishing the task at this moment wins without waiting.
 * With `lockKey`, only if this statement gets that advisory lock (transaction-scoped, so
 * released at its commit): the same statement of another process meanwhile rescues nothing.
 * Uses tasks_lease_idx (lease_expires_at WHERE status = 'RUNNING').
 */
export async function rescueTasks(
  exec: Executor,
  p: { now: Date | null; limit: number; defaultTtlMs: number; lockKey?: number | null },
): Promise<Task[]> {
  const now = p.now?.toISOString() ?? null;
  const lockKey = p.lockKey ?? null;
  const result = await exec`
    WITH lock AS (
      -- Held until this statement commits; taken once (an InitPlan), before the scan.
      SELECT CASE WHEN ${lockKey}::bigint IS NULL THEN true ELSE pg_try_advisory_xact_lock(${lockKey}::bigint) END AS held
    ),
    lost AS (
      SELECT id FROM tasks
      WHERE (SELECT held FROM lock)
        AND status = 'RUNNING' AND lease_expires_at < coalesce(${now}::timestamptz, now())
      ORDER BY lease_expires_at
      LIMIT ${p.limit}
      FOR UPDATE SKIP LOCKED
    ),
    computed AS (
      SELECT t.id,
        CASE WHEN t.cancel_requested THEN 'CANCELLED'
             WHEN t.attempts < t.max_attempts THEN 'RETRYING' ELSE 'FAILED' END::task_status AS next_status,
        coalesce((t.backoff->>'baseMs')::float8, ${DEFAULT_BACKOFF.baseMs})
          * power(coalesce((t.backoff->>'factor')::float8, ${DEFAULT_BACKOFF.factor}), greatest(t.attempts - 1, 0))
          AS raw_delay,
        coalesce((t.backoff->>'maxMs')::float8, ${DEFAULT_BACKOFF.maxMs}) AS max_delay
      FROM tasks t JOIN lost ON lost.id = t.id
    ),
    changed AS (
      UPDATE tasks t SET
        status = c.next_status,
        errors = t.errors || jsonb_build_array(jsonb_build_object(
          'exceptionType', 'WorkerLost',
          'message', 'Worker ' || coalesce(t.locked_by, '?') || ' stopped renewing its lease (killed, hung or cut off); the attempt was abandoned',
          'traceback', NULL,
          'attempt', t.attempts,
          'at', coalesce(${now}::timestamptz, clock_timestamp()),
          'workerId', t.locked_by)),
        run_after = CASE WHEN c.next_status = 'RETRYING'
                    THEN coalesce(${now}::timestamptz, clock_timestamp())
                         + least(c.max_delay, c.raw_delay * (0.75 + random() * 0.5)) * interval '1 millisecond'
                    ELSE t.run_after END,
        finished_at = CASE WHEN c.next_status = 'RETRYING' THEN NULL ELSE coalesce(${now}::timestamptz, clock_timestamp()) END,
        expires_at = CASE WHEN c.next_status = 'RETRYING' THEN NULL
                     ELSE coalesce(${now}::timestamptz, clock_timestamp())
                          + coalesce(t.result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond' END,
        version = t.version + 1,
        locked_by = NULL,
        lease_expires_at = NULL
      FROM computed c WHERE t.id = c.id
      RETURNING t.*
    ),
    woken AS (
      SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM (SELECT DISTINCT queue FROM changed WHERE status = 'RETRYING') q
    ),
    ${exec.unsafe(notifyEventsSql(['woken']))}`;
  return result.map((row) => toTask(row));
}
