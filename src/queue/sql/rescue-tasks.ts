import type { Sql } from '../../db/client.js';
import { transaction } from '../../db/transaction.js';
import { backoffDelayMs } from '../backoff.js';
import { wakeQueuesSql } from '../due-notice.js';
import { changeTailSql } from '../events.js';
import { CLOCK_AT } from './clock.js';
import { toTask, type Backoff, type Task } from '../task.js';

// A rescue is logged as RESCUED; the status says what came of it (RETRYING, FAILED, or CANCELLED
// when cancellation had been asked for), its WorkerLost error was just appended. A task given back
// (claimed ahead, never started) is logged as RELEASED, as a worker's hand-back is: PENDING or
// RETRYING, the attempt given back (attempts + 1), the lost worker's id, no error.
const TAIL = changeTailSql(
  { type: 'ev_type', attempt: `CASE WHEN ev_type = 'RELEASED' THEN attempts + 1 ELSE attempts END`, worker: 'ev_worker', error: 'ev_error', at: CLOCK_AT },
  ['woken'],
);

// Given back: due now (its queue's name). A retry after its backoff: a due notice.
const WOKEN = wakeQueuesSql('changed', '(SELECT at FROM clock)', `status IN ('PENDING', 'RETRYING')`);

interface LostTask {
  id: string;
  name: string;
  attempts: number;
  backoff: Partial<Backoff> | null;
  /** Claimed ahead and not started (claimed_ahead_at is this attempt's stamp), never given back before, no cancellation asked for: given back. */
  back: boolean;
  lockedBy: string | null;
}

/**
 * Running tasks whose lease ran out (their worker stopped heart-beating: killed, hung,
 * partitioned) get a `WorkerLost` error for that attempt, then RETRYING with backoff while
 * attempts are left, else FAILED; CANCELLED if cancellation was requested.
 * A task its worker claimed ahead of a free slot and had not started by its last heartbeat
 * (`claimed_ahead_at` = `last_attempted_at`) made no attempt: it is given back as a graceful stop
 * gives it back (releaseTasks) — PENDING (RETRYING after earlier attempts), attempts − 1, that
 * attempt's worker id dropped, due now, no error — unless its cancellation was asked for, or it was
 * given back so once already (`ahead_give_backs`): then as above. Once only, because a task that
 * started after the last heartbeat and killed its worker looks the same (docs/decisions.md
 * "Claiming ahead").
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
    /** The definition's backoff for tasks without their own (as the outcome store uses for a failed attempt). */
    definitionBackoff?: ((name: string) => Partial<Backoff> | undefined) | undefined;
    /**
     * Rescue nothing until the database has been up this long (ms; null: no such wait). While it
     * was down no worker could renew its lease, so right after a restart every lease that ran out
     * meanwhile looks lost, though its worker is alive and renews it at its next heartbeat.
     */
    restartGraceMs?: number | null;
    /**
     * Do it all, then roll it back: what it would have rescued, and proof that the writes a
     * rescue needs go through now (a database that answers reads may still refuse writes: a full
     * disk). Nothing is changed, logged or notified.
     */
    rollBack?: boolean;
  },
): Promise<Task[]> {
  const now = p.now?.toISOString() ?? null;
  const restartGraceMs = p.restartGraceMs ?? null;
  const lockKey = p.lockKey ?? null;
  const rescued = transaction(sql, async (tx) => {
    if (lockKey !== null) {
      const [lock] = await tx`SELECT pg_try_advisory_xact_lock(${lockKey}::bigint) AS held`;
      if (!lock?.held) return [];
    }
    // A lost workflow step is rescued only with its workflow's row (its end fires the steps
    // trigger, which locks it): taken SKIP LOCKED like the tasks, since this transaction holds
    // them already and must not wait for it (./workflow-locks.ts). A step whose workflow another
    // transaction holds stays locked here, unchanged, until the commit, and is rescued next round.
    const lost = (await tx`
      WITH candidates AS (
        SELECT id, name, attempts, backoff, locked_by, workflow_id,
               coalesce(claimed_ahead_at = last_attempted_at, false) AND ahead_give_backs = 0 AND NOT cancel_requested AS back
        FROM tasks
        WHERE status = 'RUNNING' AND lease_expires_at < coalesce(${now}::timestamptz, now())
          AND (${restartGraceMs}::float8 IS NULL
               OR pg_postmaster_start_time() < coalesce(${now}::timestamptz, now()) - ${restartGraceMs}::float8 * interval '1 millisecond')
        ORDER BY lease_expires_at
        LIMIT ${p.limit}
        FOR UPDATE SKIP LOCKED
      ),
      workflows_held AS MATERIALIZED (
        SELECT id FROM workflows WHERE id = ANY(ARRAY(SELECT workflow_id FROM candidates WHERE workflow_id IS NOT NULL))
        ORDER BY id FOR UPDATE SKIP LOCKED
      )
      SELECT id, name, attempts, backoff, locked_by, back FROM candidates
      WHERE workflow_id IS NULL OR workflow_id IN (SELECT id FROM workflows_held)`) as unknown as LostTask[];
    if (lost.length === 0) return [];
    // The delay is used only by the rows that end RETRYING (attempts left, no cancellation).
    const input = Object.fromEntries(
      lost.map((t) => [t.id, { delayMs: t.back ? 0 : backoffDelayMs(t.backoff ?? p.definitionBackoff?.(t.name), t.attempts), back: t.back, worker: t.lockedBy }]),
    );
    const result = await tx`
      -- One reading for every stamp (./clock.ts), the injected instant when a test gives one.
      WITH clock AS MATERIALIZED (SELECT coalesce(${now}::timestamptz, clock_timestamp()) AS at),
      input AS (
        SELECT key::uuid AS id, (value ->> 'delayMs')::float8 AS delay_ms, (value ->> 'back')::boolean AS back, value ->> 'worker' AS worker
        FROM jsonb_each(${JSON.stringify(input)}::jsonb)
      ),
      -- Claimed ahead, never started: handed back whole (as releaseTasks does), the attempt not counted.
      given_back AS (
        UPDATE tasks t SET
          status = (CASE WHEN t.attempts <= 1 THEN 'PENDING' ELSE 'RETRYING' END)::task_status,
          attempts = t.attempts - 1,
          worker_ids = t.worker_ids[1:cardinality(t.worker_ids) - 1],
          started_at = CASE WHEN t.attempts <= 1 THEN NULL ELSE t.started_at END,
          last_attempted_at = CASE WHEN t.attempts <= 1 THEN NULL ELSE t.last_attempted_at END,
          run_after = least(t.run_after, (SELECT at FROM clock)),
          claimed_ahead_at = NULL,
          ahead_give_backs = t.ahead_give_backs + 1,
          version = t.version + 1,
          last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
          locked_by = NULL,
          lease_expires_at = NULL
        FROM input WHERE t.id = input.id AND input.back AND t.status = 'RUNNING'
        RETURNING t.*, 'RELEASED'::text AS ev_type, input.worker AS ev_worker, NULL::jsonb AS ev_error
      ),
      rescued AS (
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
          last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
          locked_by = NULL,
          lease_expires_at = NULL
        FROM input WHERE t.id = input.id AND NOT input.back AND t.status = 'RUNNING'
        RETURNING t.*, 'RESCUED'::text AS ev_type, t.errors -> -1 ->> 'workerId' AS ev_worker, t.errors -> -1 AS ev_error
      ),
      changed AS (SELECT * FROM given_back UNION ALL SELECT * FROM rescued),
      -- A task given back wakes its queue; a retry after its backoff sends a due notice, so the
      -- workers look when it falls due.
      ${tx.unsafe(WOKEN)},
      ${tx.unsafe(TAIL)}`;
    const tasks = result.map((row) => toTask(row));
    if (p.rollBack) throw new RolledBack(tasks);
    return tasks;
  }) as Promise<Task[]>;
  return rescued.catch((error: unknown) => {
    if (error instanceof RolledBack) return error.tasks;
    throw error;
  });
}

/** Thrown out of a `rollBack` rescue's transaction so that postgres.js rolls it back. */
class RolledBack extends Error {
  constructor(readonly tasks: Task[]) {
    super('rolled back on purpose');
  }
}
