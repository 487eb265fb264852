import { expect } from 'vitest';
import { createDb, type Executor, type Sql } from '../../src/db/client.js';
import type { EnqueueInput } from '../../src/queue/enqueue.js';
import { EVENTS_CHANNEL } from '../../src/queue/events.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import type { Task } from '../../src/queue/task.js';
import type { TestApp } from './app.js';
import { explainedPlans } from './explained-plans.js';
import { insertTask } from './factories.js';
import { waitFor } from './wait.js';

/**
 * Shared by the tests of the cached-plan SQL functions (taskwire_claim, taskwire_complete,
 * taskwire_fail, taskwire_append_output): each checks its plans on a table with and without statistics, and
 * compares what it announces with the statement it replaced.
 */

/** Rows of pg_stats for `tasks` in the test's schema: 0 on a table never analyzed. */
export async function statisticsRows(sql: Sql): Promise<number> {
  const [row] = await sql`SELECT count(*)::int AS n FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'tasks'`;
  return Number(row?.n);
}

/**
 * The payloads `run` sends on the events channel, each task id replaced by its place in `ids`
 * (`#0`, `#1`, …), sorted: which chunk of 100 ids goes first is up to the plan's grouping. A
 * marker sent after `run` closes the list.
 */
export async function eventPayloadsOf(url: string, ids: readonly string[], run: () => Promise<unknown>): Promise<string[]> {
  const db = createDb(url, { max: 1 });
  const heard: string[] = [];
  try {
    await db.sql.listen(EVENTS_CHANNEL, (p) => heard.push(p));
    await run();
    await db.sql`SELECT pg_notify(${EVENTS_CHANNEL}, 'marker')`;
    await waitFor(() => heard.includes('marker'), { message: 'the marker' });
  } finally {
    await db.close();
  }
  const place = new Map(ids.map((id, i) => [id, String(i)]));
  return heard.filter((p) => p !== 'marker').map((p) => p.replace(/[0-9a-f-]{36}/g, (id) => `#${place.get(id) ?? id}`)).sort();
}

/**
 * The plan check of a worker's batched write by id (taskwire_complete, taskwire_fail,
 * taskwire_append_output): `waiting` tasks of queue `plan-q` for `plansOf` to claim and write, and
 * 1,000 others RUNNING under another worker (a plan through a partial index on RUNNING would read
 * them all); on the table never analyzed, then analyzed, a batch of 1 and one of `large`: the
 * caller's statement is a function scan, and the body walks tasks_pkey, no bitmap, no other index
 * of tasks. `plansOf(count)` returns explainedPlans' list (the caller's plan last).
 */
export async function expectBatchWriteWalksPrimaryKey(
  app: TestApp,
  o: { waiting: number; input?: Partial<EnqueueInput>; large: number; plansOf(count: number): Promise<string[][]> },
): Promise<void> {
  const { sql, deps } = app;
  await sql`ALTER TABLE tasks SET (autovacuum_enabled = off)`;
  await deps.queue.enqueueMany(Array.from({ length: o.waiting }, () => ({ name: 'test.record', ...o.input, queue: 'plan-q' })));
  await deps.queue.enqueueMany(Array.from({ length: 2000 }, () => ({ name: 'test.record', queue: 'other-q' })));
  await claimTasks(sql, { workerId: 'w-busy', limit: 1000, queues: ['other-q'], leaseMs: 60_000 });
  expect(await statisticsRows(sql)).toBe(0);
  for (const analyzed of [false, true]) {
    if (analyzed) {
      await sql`ANALYZE tasks`;
      expect(await statisticsRows(sql)).toBeGreaterThan(0);
    }
    for (const count of [1, o.large]) {
      const plans = await o.plansOf(count);
      expect(plans.at(-1)).toEqual(['Function Scan']);
      const body = plans.slice(0, -1).flat();
      expect(body).toContain('Index Scan using tasks_pkey');
      expect(body.filter((n) => /Bitmap|Seq Scan on tasks|Index Scan using tasks_(?!pkey)/.test(n))).toEqual([]);
    }
  }
}

/**
 * The tasks of `queue` that a worker's batched write for attempt 1 must treat apart or leave alone,
 * in this order: RUNNING under `worker` with its cancellation asked (3 attempts allowed); another
 * worker's; `worker`'s attempt 2 (newer than the write's); CANCELLED; one whose lease the rescuer
 * took back (RETRYING, due in an hour); one taken back and claimed again by `worker` (attempt 2).
 */
export async function lateAndOthersTasks(app: TestApp, queue: string, worker: string): Promise<[Task, Task, Task, Task, Task, Task]> {
  const { sql, deps } = app;
  const cancelAsked = await insertTask(sql, { status: 'RUNNING', queue, workerId: worker, cancelRequested: true, maxAttempts: 3 });
  const others = await insertTask(sql, { status: 'RUNNING', queue, workerId: 'w-other', maxAttempts: 3 });
  const older = await insertTask(sql, { status: 'RUNNING', queue, workerId: worker, attempts: 2, maxAttempts: 3 });
  const cancelled = await insertTask(sql, { status: 'CANCELLED', queue, workerId: worker, attempts: 1 });
  // Due again in an hour: only lostAgain is claimed again below.
  const lost = await insertTask(sql, { status: 'RUNNING', queue, workerId: worker, leaseMs: -1000, maxAttempts: 3, backoff: { baseMs: 3_600_000, maxMs: 3_600_000, factor: 1, jitter: 0 } });
  const [rescued] = await deps.rescuer.runOnce();
  expect(rescued).toMatchObject({ id: lost.id, status: 'RETRYING' });
  const lostAgain = await insertTask(sql, { status: 'RUNNING', queue, workerId: worker, leaseMs: -1000, maxAttempts: 3, backoff: { baseMs: 10, maxMs: 20, factor: 1, jitter: 0 } });
  await deps.rescuer.runOnce();
  await waitFor(async () => (await claimTasks(sql, { workerId: worker, limit: 1, queues: [queue], leaseMs: 60_000 })).length > 0, { message: 'the retry' });
  return [cancelAsked, others, older, cancelled, lost, lostAgain];
}

/**
 * The plans of `write` on `count` tasks of queue `plan-q` claimed by `plan-probe` in the same
 * transaction (rolled back), for expectBatchWriteWalksPrimaryKey: the caller's plan last.
 */
export function plansAfterClaim(url: string, count: number, write: (c: Executor, claimed: readonly Task[]) => Promise<void>): Promise<string[][]> {
  let claimed: Task[] = [];
  return explainedPlans(url, (c) => write(c, claimed), {
    before: async (c) => {
      claimed = await claimTasks(c, { workerId: 'plan-probe', limit: count, queues: ['plan-q'], leaseMs: 60_000 });
      expect(claimed).toHaveLength(count);
    },
  });
}

/**
 * The event log of `ids` (`o`: the task's place in `ids`, from 1), whole but for times (an error's
 * `at` too), and whether each event is at its task's finish (when finished): to compare two sets.
 */
export async function eventRowsOf(sql: Sql, ids: readonly string[]): Promise<unknown[]> {
  const rows = await sql`
    SELECT w.o, e.version, e.type, e.status, e.attempt, e.worker_id, e.progress, e.error - 'at' AS error,
           t.finished_at IS NULL OR e.version < t.version OR e.at = t.finished_at AS at_finish
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN task_events e ON e.task_id = w.id JOIN tasks t ON t.id = w.id
    ORDER BY w.o, e.version`;
  return rows.map((r) => ({ ...r }));
}

/**
 * What each task of `ids` is (in that order) apart from its id and clock times, to compare two sets:
 * its errors without their `at`, its retention after it finished (ms), and when waiting, its delay
 * after its last event (ms).
 */
export async function storedRowsOf(sql: Sql, ids: readonly string[]): Promise<Record<string, unknown>[]> {
  const rows = await sql`
    SELECT t.status, t.version, t.attempts, (SELECT jsonb_agg(x - 'at') FROM jsonb_array_elements(t.errors) x) AS errors,
           t.locked_by, t.worker_ids, t.lease_expires_at IS NULL AS no_lease,
           t.started_at IS NULL AS not_started, t.last_attempted_at IS NULL AS not_attempted,
           t.finished_at IS NULL AS unfinished, round(extract(epoch FROM t.expires_at - t.finished_at) * 1000) AS ttl_ms,
           CASE WHEN t.status IN ('PENDING', 'RETRYING') THEN
             round(extract(epoch FROM t.run_after - (SELECT e.at FROM task_events e WHERE e.task_id = t.id ORDER BY e.version DESC LIMIT 1)) * 1000)
           END AS delay_ms
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN tasks t ON t.id = w.id ORDER BY w.o`;
  return rows.map((r) => ({ ...r }));
}
