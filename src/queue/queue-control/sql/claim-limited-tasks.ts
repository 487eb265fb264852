import type postgres from 'postgres';
import type { Sql } from '../../../db/client.js';
import { changeTailSql } from '../../events.js';
import { toTask, type Task } from '../../task.js';

export interface LimitedClaimParams {
  workerId: string;
  /** Most tasks to claim from this queue. */
  limit: number;
  /** The limited queue (a row in `queues` with a limit set). */
  queue: string;
  leaseMs: number;
}

export interface LimitedClaim {
  tasks: Task[];
  /** A limit (not the lack of tasks, nor `limit`) decided how many were taken: more may be waiting. */
  held: boolean;
  /** The queue's rate window is used up: the next one opens in this many ms (null: the rate did not hold). */
  nextWindowInMs: number | null;
}

/** Distinct keys a per-key claim looks at, after the round-robin cursor; a larger set waits for the next claims. */
export const MAX_KEYS_PER_CLAIM = 1000;

type Fragment = postgres.PendingQuery<postgres.Row[]>;

const TAIL = changeTailSql({ type: `'STARTED'`, worker: 'locked_by' }, ['counted']);

/**
 * Claims from one limited queue, strictly within its limits across every worker process.
 * Claimers of a limited queue are serialized by the lock on its `queues` row (SELECT … FOR
 * UPDATE), held for two statements; the claim is the second, so that its snapshot, taken after
 * the lock was granted, sees every claim committed before: counting RUNNING tasks in the same
 * statement as the lock would read a snapshot from before the wait, and let two claimers over
 * the limit. Unlimited queues never come here (claimTasks takes them without a lock).
 *
 * - concurrency: RUNNING tasks of the queue, counted through tasks_running_queue_key_idx —
 *   claimed-ahead tasks are RUNNING, a task whose lease ran out stays RUNNING until the rescuer
 *   takes it back, a task being cancelled until its worker stops it: all count, exactly.
 * - rate: starts per fixed window of `rate_per_ms` ms aligned to the epoch; the count lives on
 *   the queues row (rate_window, rate_count), written only here, under the lock. A start is the
 *   claim: its `started_at`/`last_attempted_at` take the statement's one clock reading, so the
 *   window a start is counted in is the one its timestamps fall in.
 * - perKeyConcurrency: RUNNING tasks per key, same index; keys are served round-robin from the
 *   row's key_cursor (the last key served), the first task of each key, then the second…; the
 *   keys come from a skip scan of tasks_key_claim_idx (one index probe per key). Keyless tasks
 *   of the queue are not held by the per-key limit.
 */
export async function claimLimitedTasks(sql: Sql, p: LimitedClaimParams): Promise<LimitedClaim> {
  return sql.begin(async (tx) => {
    const [locked] = await tx`
      SELECT paused, concurrency, rate_max, rate_per_ms, per_key_concurrency, key_cursor FROM queues
      WHERE name = ${p.queue} FOR UPDATE`;
    if (!locked || locked.paused) return { tasks: [], held: false, nextWindowInMs: null };
    const perKey = locked.perKeyConcurrency as number | null;
    const rows = perKey === null ? await claimInOrder(tx, p) : await claimPerKey(tx, p, perKey);
    const tasks = rows.map((row) => toTask(row)).sort(claimOrder);
    const budget = rows.length > 0 ? Number(rows[0]?.budget) : await budgetOf(tx, p.queue, p.limit);
    const held = (budget < p.limit && tasks.length === budget) || (perKey !== null && tasks.length < budget);
    const rateMax = locked.rateMax as number | null;
    const perMs = locked.ratePerMs as number | null;
    let nextWindowInMs: number | null = null;
    if (rateMax !== null && perMs !== null && held) {
      const [clock] = await tx`SELECT rate_count, rate_window, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms FROM queues WHERE name = ${p.queue}`;
      const nowMs = Number(clock?.nowMs);
      if (Number(clock?.rateWindow) === Math.floor(nowMs / perMs) && Number(clock?.rateCount) >= rateMax) {
        nextWindowInMs = Math.max(1, Math.ceil((Math.floor(nowMs / perMs) + 1) * perMs - nowMs));
      }
    }
    return { tasks, held, nextWindowInMs };
  });
}

/**
 * The settings, the clock, the RUNNING count and the budget: how many tasks the queue may start
 * now (at most `limit`). One CTE text shared by both claims.
 */
function budgetCtes(tx: postgres.TransactionSql, queue: string, limit: number): Fragment {
  return tx`
    clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
    settings AS MATERIALIZED (
      SELECT q.name, q.concurrency, q.rate_max, q.rate_count, q.rate_window, q.per_key_concurrency, q.key_cursor,
             CASE WHEN q.rate_per_ms IS NULL THEN NULL
                  ELSE floor(extract(epoch FROM (SELECT at FROM clock)) * 1000 / q.rate_per_ms)::bigint END AS win
      FROM queues q WHERE q.name = ${queue}
    ),
    -- tasks_running_queue_key_idx (queue, concurrency_key WHERE status = 'RUNNING')
    running AS MATERIALIZED (SELECT count(*) AS n FROM tasks WHERE queue = ${queue} AND status = 'RUNNING'),
    budget AS MATERIALIZED (
      SELECT greatest(0, least(
        ${limit}::int,
        coalesce(s.concurrency - (SELECT n FROM running), ${limit}::int),
        CASE WHEN s.rate_max IS NULL THEN ${limit}::int
             WHEN s.rate_window = s.win THEN s.rate_max - s.rate_count ELSE s.rate_max END))::int AS n
      FROM settings s
    )`;
}

async function budgetOf(tx: postgres.TransactionSql, queue: string, limit: number): Promise<number> {
  const [row] = await tx`WITH ${budgetCtes(tx, queue, limit)} SELECT n FROM budget`;
  return Number(row?.n ?? 0);
}

/** The claimed rows' update, the rate count and the event tail, given a CTE `next` of ids to claim. */
function claimTail(tx: postgres.TransactionSql, p: LimitedClaimParams): Fragment {
  return tx`
    changed AS (
      UPDATE tasks t SET
        status = 'RUNNING',
        attempts = t.attempts + 1,
        version = t.version + 1,
        started_at = coalesce(t.started_at, (SELECT at FROM clock)),
        last_attempted_at = (SELECT at FROM clock),
        worker_ids = array_append(t.worker_ids, ${p.workerId}::text),
        locked_by = ${p.workerId},
        lease_expires_at = now() + ${p.leaseMs} * interval '1 millisecond'
      FROM next WHERE t.id = next.id
      RETURNING t.*, (SELECT n FROM budget) AS budget
    ),
    -- The rate window's count, and the round-robin cursor: the key served last in rotation order.
    counted AS (
      UPDATE queues q SET
        rate_window = s.win,
        rate_count = CASE WHEN s.win IS NULL THEN 0
                          WHEN q.rate_window = s.win THEN q.rate_count ELSE 0 END + (SELECT count(*) FROM changed),
        key_cursor = coalesce((SELECT key FROM next WHERE key IS NOT NULL ORDER BY ord DESC LIMIT 1), q.key_cursor)
      FROM settings s WHERE q.name = s.name AND EXISTS (SELECT 1 FROM changed)
      RETURNING 1
    ),
    ${tx.unsafe(TAIL)}`;
}

/** Concurrency and rate only: the queue's tasks in claim order. */
function claimInOrder(tx: postgres.TransactionSql, p: LimitedClaimParams): Fragment {
  return tx`
    WITH ${budgetCtes(tx, p.queue, p.limit)},
    next AS (
      -- tasks_claim_idx, filtered by queue (as a worker limited to some queues claims)
      SELECT id, NULL::text AS key, 0 AS ord FROM tasks
      WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now() AND queue = ${p.queue}
      ORDER BY priority DESC NULLS LAST, run_after, id
      LIMIT (SELECT n FROM budget)
      FOR UPDATE SKIP LOCKED
    ),
    ${claimTail(tx, p)}`;
}

/** Per-key: round-robin over the queue's waiting keys, each within its own RUNNING limit. */
function claimPerKey(tx: postgres.TransactionSql, p: LimitedClaimParams, perKey: number): Fragment {
  return tx`
    WITH RECURSIVE ${budgetCtes(tx, p.queue, p.limit)},
    -- Skip scan of tasks_key_claim_idx (queue, concurrency_key, … WHERE waiting AND key IS NOT NULL):
    -- the keys after the cursor first, then from the start again up to it.
    after_cursor(k, n) AS (
      SELECT (SELECT concurrency_key FROM tasks
              WHERE queue = ${p.queue} AND status IN ('PENDING', 'RETRYING') AND concurrency_key IS NOT NULL
                AND concurrency_key > coalesce((SELECT key_cursor FROM settings), '')
              ORDER BY concurrency_key LIMIT 1), 1
      UNION ALL
      SELECT (SELECT concurrency_key FROM tasks
              WHERE queue = ${p.queue} AND status IN ('PENDING', 'RETRYING') AND concurrency_key IS NOT NULL
                AND concurrency_key > a.k
              ORDER BY concurrency_key LIMIT 1), a.n + 1
      FROM after_cursor a WHERE a.k IS NOT NULL AND a.n < ${MAX_KEYS_PER_CLAIM}
    ),
    before_cursor(k, n) AS (
      SELECT (SELECT concurrency_key FROM tasks
              WHERE queue = ${p.queue} AND status IN ('PENDING', 'RETRYING') AND concurrency_key IS NOT NULL
                AND concurrency_key <= (SELECT key_cursor FROM settings)
              ORDER BY concurrency_key LIMIT 1), 1
      UNION ALL
      SELECT (SELECT concurrency_key FROM tasks
              WHERE queue = ${p.queue} AND status IN ('PENDING', 'RETRYING') AND concurrency_key IS NOT NULL
                AND concurrency_key > b.k AND concurrency_key <= (SELECT key_cursor FROM settings)
              ORDER BY concurrency_key LIMIT 1), b.n + 1
      FROM before_cursor b WHERE b.k IS NOT NULL AND b.n < ${MAX_KEYS_PER_CLAIM}
    ),
    keys AS (
      SELECT k, n AS ord FROM after_cursor WHERE k IS NOT NULL
      UNION ALL
      SELECT k, ${MAX_KEYS_PER_CLAIM} + n FROM before_cursor WHERE k IS NOT NULL
    ),
    candidates AS (
      SELECT c.id, keys.k AS key, keys.ord, c.rn, c.priority, c.run_after FROM keys
      CROSS JOIN LATERAL (
        -- tasks_key_claim_idx: this key's first tasks, as many as its free RUNNING places
        SELECT id, priority, run_after, row_number() OVER (ORDER BY priority DESC NULLS LAST, run_after, id) AS rn FROM tasks
        WHERE queue = ${p.queue} AND concurrency_key = keys.k AND status IN ('PENDING', 'RETRYING') AND run_after <= now()
        ORDER BY priority DESC NULLS LAST, run_after, id
        LIMIT greatest(0, ${perKey}::int - (
          -- tasks_running_queue_key_idx
          SELECT count(*) FROM tasks r WHERE r.queue = ${p.queue} AND r.concurrency_key = keys.k AND r.status = 'RUNNING'))
      ) c
      UNION ALL
      -- Keyless tasks of the queue: not held by the per-key limit; they take turns as key "ord 0".
      SELECT id, NULL, 0, row_number() OVER (ORDER BY priority DESC NULLS LAST, run_after, id), priority, run_after FROM (
        SELECT id, priority, run_after FROM tasks
        WHERE queue = ${p.queue} AND concurrency_key IS NULL AND status IN ('PENDING', 'RETRYING') AND run_after <= now()
        ORDER BY priority DESC NULLS LAST, run_after, id
        LIMIT (SELECT n FROM budget)
      ) keyless
    ),
    picked AS (
      SELECT id, key, ord FROM candidates ORDER BY rn, ord, priority DESC, run_after, id LIMIT (SELECT n FROM budget)
    ),
    next AS (
      SELECT t.id, picked.key, picked.ord FROM tasks t JOIN picked ON picked.id = t.id
      WHERE t.status IN ('PENDING', 'RETRYING')
      FOR UPDATE OF t SKIP LOCKED
    ),
    ${claimTail(tx, p)}`;
}

function claimOrder(a: Task, b: Task): number {
  return b.priority - a.priority || a.runAfter.getTime() - b.runAfter.getTime() || (a.id < b.id ? -1 : 1);
}
