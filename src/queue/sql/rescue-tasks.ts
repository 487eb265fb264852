import type { Sql } from '../../db/client.js';
import { backoffDelayMs } from '../backoff.js';
import { wakeQueuesSql } from '../due-notice.js';
import { changeTailSql } from '../events.js';
import { CLOCK_AT } from './clock.js';
import { toTask, type Backoff, type Task } from '../task.js';

// Every rescue is logged as RESCUED; the status says what came of it (RETRYING, FAILED, or
// CANCELLED when cancellation had been asked for). Its WorkerLost error was just appended.
const TAIL = changeTailSql(
  { type: `'RESCUED'`, worker: `errors -> -1 ->> 'workerId'`, error: 'errors -> -1', at: CLOCK_AT },
  ['woken'],
);

const WOKEN = wakeQueuesSql('changed', '(SELECT at FROM clock)', `status = 'RETRYING'`);

interface LostTask {
  id: string;
  name: string;
  attempts: number;
  backoff: Partial<Backoff> | null;
}

/**
 * Running tasks whose lease ran out (their worker stopped heart-beating: killed, hung,
 * partitioned) get a `WorkerLost` error for that attempt, then RETRYING with backoff while
 * attempts are left, else FAILED; CANCELLED if cancellation was requested.
 *
 * Two statements in one transaction: the first locks the lost tasks (SKIP LOCKED, so a worker
 * finishing a task at this moment wins without waiting; tasks_lease_idx, lease_expires_at WHERE
 * status = 'RUNNING'), the second moves them, with each retry's delay computed by the one
 * backoff rule (src/queue/backoff.ts) rather than a copy of it in SQL.
 * With `lockKey`, only if this transaction gets that advisory lock (released at its commit):
 * the same call of another process meanwhile rescues nothing.
 */
export async function rescueTasks(
  sql: Sql,
  p: {
    now: Date | null;
    limit: number;
    defaultTtlMs: number;
    lockKey?: number | null;
    /** The definition's backoff for tasks without their own (as failTask's caller uses). */
    definitionBackoff?: ((name: string) => Partial<Backoff> | undefined) | undefined;
  },
): Promise<Task[]> {
  const now = p.now?.toISOString() ?? null;
  const lockKey = p.lockKey ?? null;
  return sql.begin(async (tx) => {
    if (lockKey !== null) {
      const [lock] = await tx`SELECT pg_try_advisory_xact_lock(${lockKey}::bigint) AS held`;
      if (!lock?.held) return [];
    }
    const lost = (await tx`
      SELECT id, name, attempts, backoff FROM tasks
      WHERE status = 'RUNNING' AND lease_expires_at < coalesce(${now}::timestamptz, now())
      ORDER BY lease_expires_at
      LIMIT ${p.limit}
      FOR UPDATE SKIP LOCKED`) as unknown as LostTask[];
    if (lost.length === 0) return [];
    // The delay is used only by the rows that end RETRYING (attempts left, no cancellation).
    const delays = Object.fromEntries(lost.map((t) => [t.id, backoffDelayMs(t.backoff ?? p.definitionBackoff?.(t.name), t.attempts)]));
    const result = await tx`
      -- One reading for every stamp (./clock.ts), the injected instant when a test gives one.
      WITH clock AS MATERIALIZED (SELECT coalesce(${now}::timestamptz, clock_timestamp()) AS at),
      input AS (SELECT key::uuid AS id, value::text::float8 AS delay_ms FROM jsonb_each(${JSON.stringify(delays)}::jsonb)),
      changed AS (
        UPDATE tasks t SET
          status = (CASE WHEN t.cancel_requested THEN 'CANCELLED'
                         WHEN t.attempts < t.max_attempts THEN 'RETRYING' ELSE 'FAILED' END)::task_status,
          errors = t.errors || jsonb_build_array(jsonb_build_object(
            'exceptionType', 'WorkerLost',
            'message', 'Worker ' || coalesce(t.locked_by, '?') || ' stopped renewing its lease (killed, hung or cut off); the attempt was abandoned',
            'traceback', NULL,
            'attempt', t.attempts,
            'at', (SELECT at FROM clock),
            'workerId', t.locked_by)),
          run_after = CASE WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts
                      THEN (SELECT at FROM clock) + input.delay_ms * interval '1 millisecond'
                      ELSE t.run_after END,
          finished_at = CASE WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts THEN NULL
                        ELSE (SELECT at FROM clock) END,
          expires_at = CASE WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts THEN NULL
                       ELSE (SELECT at FROM clock)
                            + coalesce(t.result_ttl_ms, ${p.defaultTtlMs}) * interval '1 millisecond' END,
          version = t.version + 1,
          locked_by = NULL,
          lease_expires_at = NULL
        FROM input WHERE t.id = input.id AND t.status = 'RUNNING'
        RETURNING t.*
      ),
      -- A retry after its backoff: a due notice, so the workers look when it falls due.
      ${tx.unsafe(WOKEN)},
      ${tx.unsafe(TAIL)}`;
    return result.map((row) => toTask(row));
  }) as Promise<Task[]>;
}
