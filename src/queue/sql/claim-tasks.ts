import type { Executor } from '../../db/client.js';
import { cancelOnAbort } from '../../db/cancel-on-abort.js';
import { changeTailSql } from '../events.js';
import { CLOCK_CTE } from './clock.js';
import { taskColumns, taskFromValues, type Task, type TaskColumns } from '../task.js';

export interface ClaimParams {
  workerId: string;
  /** Most tasks to claim. */
  limit: number;
  /** Only these queues; empty for every queue. */
  queues: readonly string[];
  leaseMs: number;
  /**
   * Some queue is paused or limited (the worker's QueueGate says so; a stale answer costs only
   * speed): walk the waiting queues instead of the global claim order, so that a held queue's
   * backlog is not scanned only to be skipped. Default false.
   */
  someHeld?: boolean;
  /**
   * How many of the claimed tasks the worker starts at once (its free slots); the rest wait for a
   * slot and are marked claimed ahead (`claimed_ahead_at`): if the worker dies before starting
   * them, the rescuer gives them back uncounted. Default `limit`: none ahead.
   */
  freeSlots?: number;
  /**
   * Tasks the worker handed back for having no handler (src/worker/passed-over.ts): left out of the
   * claim, for a worker that has the handler. Default none; a claim without them is the claim as it was.
   */
  passedOver?: readonly string[];
  /** Cancels the claim's statement if it has not run yet (cancelOnAbort): the worker no longer waits for it. */
  signal?: AbortSignal;
}

/**
 * Claims up to `limit` runnable tasks for one worker (River's shape): pick in priority
 * order with FOR UPDATE SKIP LOCKED, so concurrent workers never wait on each other or
 * take the same task, then mark them RUNNING with a lease, one attempt more and the
 * worker's id appended (those beyond its free slots marked claimed ahead: claimedAheadSet), log a
 * STARTED event and announce the change — one statement, one round trip.
 * A worker of every queue with nothing held (the common case) claims through taskwire_claim
 * (drizzle/0018_claim_function.sql; as of drizzle/0030_claimed_ahead.sql): tasks_claim_idx
 * (priority DESC, run_after, id WHERE status IN PENDING/RETRYING) walked in order, with or without
 * planner statistics, its plan cached.
 * Queues that are paused or limited (a row in `queues`, docs/flow-control.md) are left out: the
 * limited ones are claimed under their queue's lock by claimLimitedTasks
 * (src/queue/queue-control/sql/claim-limited-tasks.ts), so that a limit holds across workers;
 * the `held` list is read once per statement (an InitPlan over the small queues table).
 * Walking tasks_claim_idx would read every task ahead in claim order that the claim cannot take: a
 * held queue's whole backlog, skipped on every claim (360 ms per claim behind 200,000 held tasks),
 * or, for a worker of some queues, every other queue's. So a worker of some queues probes each of
 * its queues, and while some queue is held (`someHeld`) a worker of every queue probes each
 * waiting queue (a skip scan of tasks_queue_claim_idx); either takes and locks the first `limit`
 * tasks of each queue that is not held and keeps the first `limit` of those in claim order — the
 * same tasks the claim order would give.
 */
// The STARTED event at the attempt's stamp (one clock reading, ./clock.ts).
const TAIL = changeTailSql({ type: `'STARTED'`, worker: 'locked_by', at: 'last_attempted_at' });

export async function claimTasks(exec: Executor, p: ClaimParams): Promise<Task[]> {
  const queues = p.queues as string[];
  const freeSlots = p.freeSlots ?? p.limit;
  const passedOver = (p.passedOver ?? []) as string[];
  const result = !p.someHeld && queues.length === 0
    ? // A worker of every queue, nothing held: the same claim as the statement below, as a function
      // whose plan is cached (drizzle/0018_claim_function.sql). The pool plans every statement
      // afresh (force_custom_plan, src/db/client.ts): this one took ~0.4 ms to plan per claim, as
      // long as it took to run; a function scan takes ~0.03 ms. Tasks passed over: the form that
      // leaves them out (drizzle/0034); every other claim keeps the four-argument form as it was.
      passedOver.length === 0
      ? await cancelOnAbort(exec`SELECT * FROM taskwire_claim(${p.workerId}::text, ${p.limit}::int, ${p.leaseMs}::float8, ${freeSlots}::int)`.values(), p.signal)
      : await cancelOnAbort(exec`SELECT * FROM taskwire_claim(${p.workerId}::text, ${p.limit}::int, ${p.leaseMs}::float8, ${freeSlots}::int, ${passedOver}::uuid[])`.values(), p.signal)
    : await cancelOnAbort(exec`
    WITH RECURSIVE ${exec.unsafe(CLOCK_CTE)},
    held AS (
      SELECT coalesce(array_agg(name), '{}') AS names FROM queues
      WHERE paused OR concurrency IS NOT NULL OR rate_max IS NOT NULL OR per_key_concurrency IS NOT NULL
    ),
    ${listedQueues(exec, queues)},
    ${firstOfEachQueue(exec, p.limit, passedOver)},
    ${lastFreeCte(exec, freeSlots)},
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
        ${claimedAheadSet(exec, p.limit, freeSlots)}
      -- By primary key whatever the planner estimates of next (a join to it could scan tasks).
      WHERE t.id = ANY(ARRAY(SELECT id FROM next))
      RETURNING t.*
    ),
    ${exec.unsafe(TAIL)}`.values(), p.signal);
  // Rows as arrays (taskFromValues): a claim carries hundreds of whole tasks, and object rows
  // cost the worker ~1 KB of garbage each on top of the Task made from them.
  if (result.length === 0) return [];
  const columns = columnsOf(result.columns);
  return result
    .map((row) => taskFromValues(row, columns))
    .sort((a, b) => b.priority - a.priority || a.runAfter.getTime() - b.runAfter.getTime() || (a.id < b.id ? -1 : 1));
}

type Fragment = ReturnType<Executor['unsafe']>;

/**
 * `last_free`: the last task of the claim that its worker starts at once, the `freeSlots`-th in
 * claim order, from `next` (id, priority, run_after). A top-N of the claim, read only when the
 * claim reaches beyond its free slots (claimedAheadSet). The order is the one the worker starts
 * its claimed tasks in (sorted as below, then taken from the head of its line).
 */
export function lastFreeCte(exec: Executor, freeSlots: number): Fragment {
  return exec`
    last_free AS (
      SELECT -priority AS p, run_after, id FROM next
      ORDER BY priority DESC NULLS LAST, run_after, id OFFSET greatest(${freeSlots}::int - 1, 0) LIMIT 1
    )` as unknown as Fragment;
}

/**
 * The claim's `claimed_ahead_at`: the claim's stamp for each task after the first `freeSlots` in
 * claim order (they wait for a slot), NULL for the others. One comparison per row with the one row
 * of `last_free`, whatever the size of the claim. taskwire_claim (drizzle/0030_claimed_ahead.sql)
 * has the same text: change both together.
 */
export function claimedAheadSet(exec: Executor, limit: number, freeSlots: number): Fragment {
  return exec`claimed_ahead_at = CASE WHEN ${freeSlots}::int >= ${limit}::int THEN NULL
                              WHEN ${freeSlots}::int <= 0 THEN (SELECT at FROM clock)
                              WHEN (-t.priority, t.run_after, t.id) > (SELECT p, run_after, id FROM last_free)
                              THEN (SELECT at FROM clock) END` as unknown as Fragment;
}

// By the statement's column list (postgres.js keeps one per prepared statement): worked out once.
const COLUMNS = new WeakMap<object, TaskColumns>();

function columnsOf(columns: readonly { name: string }[]): TaskColumns {
  let found = COLUMNS.get(columns);
  if (!found) COLUMNS.set(columns, (found = taskColumns(columns)));
  return found;
}

/** `listed(q)`: the worker's own queues, or (a worker of every queue: `queues` empty) each queue with a waiting task. */
export function listedQueues(exec: Executor, queues: readonly string[]): Fragment {
  return queues.length > 0 ? namedQueues(exec, queues as string[]) : waitingQueues(exec);
}

/** `listed`: the distinct waiting queues, a skip scan of tasks_queue_claim_idx (one probe per queue). */
function waitingQueues(exec: Executor): Fragment {
  return exec`
    -- ORDER BY the index's whole order: with only min(queue) the planner preferred
    -- tasks_queue_id_idx, filtering out every finished task of the queues it passes.
    listed(q) AS (
      (SELECT queue FROM tasks WHERE status IN ('PENDING', 'RETRYING')
       ORDER BY queue, priority DESC NULLS LAST, run_after, id LIMIT 1)
      UNION ALL
      SELECT (SELECT queue FROM tasks WHERE status IN ('PENDING', 'RETRYING') AND queue > w.q
              ORDER BY queue, priority DESC NULLS LAST, run_after, id LIMIT 1)
      FROM listed w WHERE w.q IS NOT NULL
    )` as unknown as Fragment;
}

/** `listed`: a worker's own queues, each once. */
function namedQueues(exec: Executor, queues: string[]): Fragment {
  return exec`listed(q) AS (SELECT DISTINCT q FROM unnest(${queues}::text[]) AS u(q))` as unknown as Fragment;
}

/**
 * `next` from `listed`, queue by queue: the first `limit` waiting tasks of each listed queue that is
 * not held, locked, then the first `limit` of those in claim order — the tasks the claim order would
 * give, without walking other queues' tasks. Tasks passed over are read from each head beyond
 * `limit` (at most that many more) and dropped, so that they take no place of the claim's.
 */
function firstOfEachQueue(exec: Executor, limit: number, passedOver: string[]): Fragment {
  return exec`
    candidates AS (
      SELECT c.id, c.priority, c.run_after FROM listed w
      -- The queue's head of tasks_queue_claim_idx and nothing else, whatever the planner knows
      -- (drizzle/0023_queue_head_function.sql says what it took when written inline).
      CROSS JOIN LATERAL taskwire_queue_head(w.q, ${limit + passedOver.length}::int) c
      WHERE w.q IS NOT NULL AND w.q <> ALL ((SELECT names FROM held)::text[])${passedOverFilter(exec, 'c.id', passedOver)}
    ),
    next AS (
      SELECT id, priority, run_after FROM candidates ORDER BY priority DESC NULLS LAST, run_after, id LIMIT ${limit}
    )` as unknown as Fragment;
}

/**
 * ` AND <column> <> ALL (passed over)`, or nothing when none is: the statement of a claim without them
 * is the one it was. A list given as a parameter of a statement planned per call is a constant to the
 * planner, which hashes it (PostgreSQL 15+): one probe per row whatever its length.
 */
export function passedOverFilter(exec: Executor, column: string, passedOver: readonly string[]): Fragment {
  return (passedOver.length === 0 ? exec`` : exec` AND ${exec.unsafe(column)} <> ALL (${passedOver as string[]}::uuid[])`) as unknown as Fragment;
}
