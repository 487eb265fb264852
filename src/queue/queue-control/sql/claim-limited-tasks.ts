import type postgres from 'postgres';
import type { Sql } from '../../../db/client.js';
import { cancelOnAbort } from '../../../db/cancel-on-abort.js';
import { eventCtesSql } from '../../events.js';
import { toTask, type Task } from '../../task.js';
import { claimedAheadSet, lastFreeCte, passedOverFilter } from '../../sql/claim-tasks.js';

export interface LimitedClaimParams {
  workerId: string;
  /** Most tasks to claim from this queue. */
  limit: number;
  /** The limited queue (a row in `queues` with a limit set). */
  queue: string;
  leaseMs: number;
  /** How many of the claimed tasks the worker starts at once; the rest are marked claimed ahead (ClaimParams.freeSlots). Default `limit`. */
  freeSlots?: number;
  /** Tasks the worker handed back for having no handler: left out (ClaimParams.passedOver). */
  passedOver?: readonly string[];
  /** Cancels the claim's statement if it has not run yet (ClaimParams.signal). */
  signal?: AbortSignal;
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

/** Claims whose snapshot was older than the queue's lock, retried at once before giving up for this round. */
const MAX_STALE_RETRIES = 5;

type Fragment = postgres.PendingQuery<postgres.Row[]>;

const EVENTS = eventCtesSql({ type: `'STARTED'`, worker: 'locked_by' });

// Whether each queue was last seen with a per-key limit: picks the statement (the statement checks it).
const perKeyQueues = new Set<string>();

/**
 * Claims from one limited queue, strictly within its limits across every worker process, in one
 * statement. Claimers of a limited queue are serialized by the lock on its `queues` row (FOR
 * UPDATE), and every claim that takes a task updates that row. The counts (RUNNING tasks) are
 * read from the statement's snapshot, taken before the lock was granted: if a claim committed in
 * between, the row FOR UPDATE returns (its newest version, EvalPlanQual) is not the version the
 * snapshot holds, the statement claims nothing and is run again at once with a new snapshot. So a
 * claim counts against a snapshot that holds every claim committed before it, as a transaction
 * taking the lock first would (one round trip instead of four). Finished tasks committed in
 * between only make the count high (a place freed a moment ago waits for the next claim).
 * Unlimited queues never come here (claimTasks takes them without a lock).
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
  for (let attempt = 0; ; attempt++) {
    const perKey = perKeyQueues.has(p.queue);
    const rows = await cancelOnAbort(perKey ? claimPerKey(sql, p) : claimInOrder(sql, p), p.signal);
    const meta = rows[0];
    if (!meta || meta.found !== true) {
      perKeyQueues.delete(p.queue);
      return { tasks: [], held: false, nextWindowInMs: null };
    }
    if (meta.perKey !== perKey) {
      // The queue's per-key limit was set or cleared: the other statement, at once.
      if (meta.perKey === true) perKeyQueues.add(p.queue);
      else perKeyQueues.delete(p.queue);
      continue;
    }
    if (meta.fresh !== true) {
      if (attempt < MAX_STALE_RETRIES) continue;
      return { tasks: [], held: true, nextWindowInMs: null };
    }
    if (meta.paused === true) return { tasks: [], held: false, nextWindowInMs: null };
    const tasks = rows.filter((row) => row.id !== null).map((row) => toTask(row)).sort(claimOrder);
    const budget = Number(meta.budget);
    const held = (budget < p.limit && tasks.length === budget) || (perKey && tasks.length < budget);
    const next = meta.nextWindowInMs;
    return { tasks, held, nextWindowInMs: next === null || next === undefined ? null : Math.max(1, Math.ceil(Number(next))) };
  }
}

/**
 * The locked row (newest version), whether the snapshot is as new (see claimLimitedTasks), the
 * clock and the budget: how many tasks the queue may start now (at most `limit`; 0 when paused,
 * stale, or the other statement's kind).
 */
function budgetCtes(tx: Sql, queue: string, limit: number, perKey: boolean): Fragment {
  return tx`
    locked AS MATERIALIZED (
      SELECT q.name, q.paused, q.concurrency, q.rate_max, q.rate_per_ms, q.rate_count, q.rate_window,
             q.per_key_concurrency, q.key_cursor, q.xmin AS seen
      FROM queues q WHERE q.name = ${queue}
      FOR UPDATE
    ),
    clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
    settings AS MATERIALIZED (
      SELECT l.*,
             -- the version the statement's snapshot holds: the same unless a claim committed since it was taken
             l.seen = (SELECT s.xmin FROM queues s WHERE s.name = ${queue}) AS fresh,
             l.per_key_concurrency IS NOT NULL AS per_key,
             CASE WHEN l.rate_per_ms IS NULL THEN NULL
                  ELSE floor(extract(epoch FROM (SELECT at FROM clock)) * 1000 / l.rate_per_ms)::bigint END AS win
      FROM locked l
    ),
    -- tasks_running_queue_key_idx (queue, concurrency_key WHERE status = 'RUNNING')
    running AS MATERIALIZED (SELECT count(*) AS n FROM tasks WHERE queue = ${queue} AND status = 'RUNNING'),
    budget AS MATERIALIZED (
      SELECT CASE WHEN NOT s.fresh OR s.paused OR s.per_key <> ${perKey} THEN 0 ELSE greatest(0, least(
        ${limit}::int,
        coalesce(s.concurrency - (SELECT n FROM running), ${limit}::int),
        CASE WHEN s.rate_max IS NULL THEN ${limit}::int
             WHEN s.rate_window = s.win THEN s.rate_max - s.rate_count ELSE s.rate_max END)) END::int AS n
      FROM settings s
    )`;
}

/** The claimed rows' update, the rate count, the events, and one row at least: the claim's facts beside each task (or alone). */
function claimTail(tx: Sql, p: LimitedClaimParams): Fragment {
  const freeSlots = p.freeSlots ?? p.limit;
  return tx`
    ${lastFreeCte(tx, freeSlots)},
    changed AS (
      UPDATE tasks t SET
        status = 'RUNNING',
        attempts = t.attempts + 1,
        version = t.version + 1,
        last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
        started_at = coalesce(t.started_at, (SELECT at FROM clock)),
        last_attempted_at = (SELECT at FROM clock),
        worker_ids = array_append(t.worker_ids, ${p.workerId}::text),
        locked_by = ${p.workerId},
        lease_expires_at = now() + ${p.leaseMs} * interval '1 millisecond',
        ${claimedAheadSet(tx, p.limit, freeSlots)}
      -- By primary key: joined to next (whose size the planner cannot know: LIMIT of a subquery),
      -- a table with statistics was scanned whole (36 ms at 100,000 tasks, bench/tools/claim-plan.ts).
      WHERE t.id = ANY(ARRAY(SELECT id FROM next))
      RETURNING t.*
    ),
    -- The rate window's count, and the round-robin cursor: the key served last in rotation order.
    -- Every claim that takes a task updates the row: what a later claim's freshness check sees.
    counted AS (
      UPDATE queues q SET
        rate_window = s.win,
        rate_count = CASE WHEN s.win IS NULL THEN 0
                          WHEN q.rate_window = s.win THEN q.rate_count ELSE 0 END + (SELECT count(*) FROM changed),
        key_cursor = coalesce((SELECT key FROM next WHERE key IS NOT NULL ORDER BY ord DESC LIMIT 1), q.key_cursor)
      FROM settings s WHERE q.name = s.name AND EXISTS (SELECT 1 FROM changed)
      RETURNING q.rate_count
    ),
    ${tx.unsafe(EVENTS)},
    meta AS (
      SELECT true AS found, s.fresh, s.paused, s.per_key, (SELECT n FROM budget) AS budget,
             CASE WHEN s.rate_max IS NOT NULL AND coalesce((SELECT rate_count FROM counted),
                         CASE WHEN s.rate_window = s.win THEN s.rate_count ELSE 0 END) >= s.rate_max
                  THEN (s.win + 1) * s.rate_per_ms - extract(epoch FROM (SELECT at FROM clock)) * 1000 END::float8 AS next_window_in_ms,
             (SELECT count(*) FROM notified) AS notifications
      FROM settings s
    )
    SELECT changed.*, meta.* FROM meta LEFT JOIN changed ON true`;
}

/** Concurrency and rate only: the queue's tasks in claim order. */
function claimInOrder(tx: Sql, p: LimitedClaimParams): Fragment {
  return tx`
    WITH ${budgetCtes(tx, p.queue, p.limit, false)},
    next AS (
      -- tasks_claim_idx, filtered by queue, or tasks_queue_claim_idx, as the planner picks
      SELECT id, NULL::text AS key, 0 AS ord, priority, run_after FROM tasks
      WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now() AND queue = ${p.queue}${passedOverFilter(tx, 'id', p.passedOver ?? [])}
      ORDER BY priority DESC NULLS LAST, run_after, id
      LIMIT (SELECT n FROM budget)
      FOR UPDATE SKIP LOCKED
    ),
    ${claimTail(tx, p)}`;
}

/** Per-key: round-robin over the queue's waiting keys, each within its own RUNNING limit. */
function claimPerKey(tx: Sql, p: LimitedClaimParams): Fragment {
  return tx`
    WITH RECURSIVE ${budgetCtes(tx, p.queue, p.limit, true)},
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
        -- tasks_key_claim_idx: this key's first tasks, as many as its free RUNNING places. The key as
        -- a range and first in the order, so that only that index gives the order: with
        -- concurrency_key = k, a planner without statistics took tasks_queue_claim_idx and filtered
        -- it, reading every task of the queue ahead of the key's (33 ms behind 100,000 of another key).
        SELECT id, priority, run_after, row_number() OVER (ORDER BY concurrency_key, priority DESC NULLS LAST, run_after, id) AS rn FROM tasks
        WHERE queue = ${p.queue} AND concurrency_key >= keys.k AND concurrency_key <= keys.k
          AND status IN ('PENDING', 'RETRYING') AND run_after <= now()${passedOverFilter(tx, 'id', p.passedOver ?? [])}
        ORDER BY concurrency_key, priority DESC NULLS LAST, run_after, id
        LIMIT greatest(0, (SELECT per_key_concurrency FROM settings) - (
          -- tasks_running_queue_key_idx
          SELECT count(*) FROM tasks r WHERE r.queue = ${p.queue} AND r.concurrency_key = keys.k AND r.status = 'RUNNING'))
      ) c
      UNION ALL
      -- Keyless tasks of the queue: not held by the per-key limit; they take turns as key "ord 0".
      -- A walk of the queue's head of tasks_queue_claim_idx, whatever the planner knows (inline, with
      -- statistics it was a sequential scan of the whole table: drizzle/0024_keyless_head_function.sql).
      -- Tasks passed over are read beyond the budget (at most that many more) and dropped.
      SELECT id, NULL, 0, row_number() OVER (ORDER BY priority DESC NULLS LAST, run_after, id), priority, run_after
      FROM taskwire_keyless_head(${p.queue}, (SELECT n FROM budget)::int${beyondBudget(tx, p.passedOver ?? [])}) keyless${
        (p.passedOver ?? []).length === 0 ? tx`` : tx` WHERE true`}${passedOverFilter(tx, 'keyless.id', p.passedOver ?? [])}
    ),
    picked AS (
      SELECT id, key, ord FROM candidates ORDER BY rn, ord, priority DESC, run_after, id LIMIT (SELECT n FROM budget)
    ),
    next AS (
      -- tasks by primary key (the ANY): joined on picked alone, whose size the planner cannot
      -- know, it hashed a scan of the whole table (20 ms at 100,000 tasks). The status as text,
      -- so that no partial index's predicate (status IN …) matches it: without statistics the
      -- planner took tasks_queue_claim_idx, the smaller, and skip-scanned all of it for the ids.
      SELECT t.id, picked.key, picked.ord, t.priority, t.run_after FROM tasks t JOIN picked ON picked.id = t.id
      WHERE t.id = ANY(ARRAY(SELECT id FROM picked)) AND t.status::text IN ('PENDING', 'RETRYING')
      FOR UPDATE OF t SKIP LOCKED
    ),
    ${claimTail(tx, p)}`;
}

/** ` + <count>`: the keyless head read beyond the budget by the tasks passed over (nothing when none is). */
function beyondBudget(tx: Sql, passedOver: readonly string[]): Fragment {
  return passedOver.length === 0 ? tx`` : tx` + ${passedOver.length}::int`;
}

function claimOrder(a: Task, b: Task): number {
  return b.priority - a.priority || a.runAfter.getTime() - b.runAfter.getTime() || (a.id < b.id ? -1 : 1);
}
