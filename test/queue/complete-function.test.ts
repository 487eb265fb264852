import { describe, expect, it } from 'vitest';
import type { Executor, Sql } from '../../src/db/client.js';
import { eventCtesSql } from '../../src/queue/events.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { completeTasks, type Completion } from '../../src/queue/sql/complete-tasks.js';
import type { Task } from '../../src/queue/task.js';
import { explainedPlans } from '../helpers/explained-plans.js';
import { eventPayloadsOf, expectBatchWriteWalksPrimaryKey, lateAndOthersTasks } from '../helpers/function-tests.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';

// A worker's successes are recorded by taskwire_complete (drizzle/0020_complete_function.sql), whose
// plan is generic and cached. It must record what the statement it replaced recorded (kept below),
// drop the same late results, and find its rows by tasks_pkey for any batch, with or without statistics.
const env = useQueueTestApp();
const WORKER = 'w-complete';
const TTL_MS = 60_000;

/**
 * The statement completeTasks sent before taskwire_complete (f0d7697), word for word but for last_event_tx
 * (drizzle/0041). It stores the result in return_value (jsonb), the function in return_value_json
 * (drizzle/0042): storedRows reads either.
 */
async function completeByStatement(exec: Executor, workerId: string, completions: readonly Completion[], defaultTtlMs: number): Promise<string[]> {
  const tail = `${eventCtesSql({ type: `'SUCCEEDED'`, worker: 'ev_worker' })}
SELECT string_agg(id::text, ',') AS ids, (SELECT count(*) FROM notified) AS notifications FROM changed`;
  const byAttempt = `{${completions.map((c) => `"${c.id}:${c.attempt}":${c.returnValue}`).join(',')}}`;
  const ids = completions.map((c) => c.id);
  const result = await exec`
    WITH input AS (SELECT ${byAttempt}::jsonb AS values),
    changed AS (
      UPDATE tasks t SET
        status = 'SUCCEEDED',
        return_value = nullif(input.values -> (t.id::text || ':' || t.attempts), 'null'::jsonb),
        version = t.version + 1,
        last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
        finished_at = clock_timestamp(),
        locked_by = NULL,
        lease_expires_at = NULL,
        expires_at = clock_timestamp() + coalesce(t.result_ttl_ms, ${defaultTtlMs}) * interval '1 millisecond'
      FROM input
      WHERE t.id = ANY(${ids}::uuid[]) AND t.status = 'RUNNING' AND t.locked_by = ${workerId}
        AND input.values ? (t.id::text || ':' || t.attempts)
      RETURNING t.id, t.version, t.status, t.attempts, t.last_event_tx, ${workerId}::text AS ev_worker
    ),
    ${exec.unsafe(tail)}`;
  const recorded = result[0]?.ids as string | null | undefined;
  return recorded ? recorded.split(',') : [];
}

/** The plans of completing `count` tasks claimed in the same (rolled back) transaction: the caller's last. */
function completionPlans(url: string, count: number): Promise<string[][]> {
  let claimed: Task[] = [];
  return explainedPlans(
    url,
    async (c) => {
      const done = await completeTasks(c, 'plan-probe', claimed.map((t) => ({ id: t.id, attempt: t.attempts, returnValue: 'null' })), TTL_MS);
      expect(done).toHaveLength(count);
    },
    {
      before: async (c) => {
        claimed = await claimTasks(c, { workerId: 'plan-probe', limit: count, queues: ['plan-q'], leaseMs: TTL_MS });
        expect(claimed).toHaveLength(count);
      },
    },
  );
}

/**
 * What a task is after the completion, apart from its id and clock times; ids in `order`. The TTL is
 * read to the second: the old statement above stamps finished_at and expires_at with two
 * clock_timestamp() calls, which a busy machine can set a millisecond or more apart (the function
 * reads the clock once: test/queue/clock-reading.test.ts).
 */
async function storedRows(sql: Sql, ids: readonly string[]): Promise<Record<string, unknown>[]> {
  const rows = await sql`
    SELECT t.status, t.version, t.attempts, coalesce(t.return_value_json::jsonb, t.return_value) AS return_value, t.locked_by, t.worker_ids, t.lease_expires_at IS NULL AS no_lease,
           t.finished_at IS NULL AS unfinished, round(extract(epoch FROM t.expires_at - t.finished_at)) * 1000 AS ttl_ms
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN tasks t ON t.id = w.id ORDER BY w.o`;
  return rows.map((r) => ({ ...r }));
}

/** The event log of `ids` (an error by its type: its time differs from set to set). */
async function eventRows(sql: Sql, ids: readonly string[]): Promise<unknown[]> {
  const rows = await sql`
    SELECT w.o, e.version, e.type, e.status, e.attempt, e.worker_id, e.progress, e.error ->> 'exceptionType' AS error
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN task_events e ON e.task_id = w.id ORDER BY w.o, e.version`;
  return rows.map((r) => ({ ...r }));
}

/**
 * One set of tasks, each in a situation a completion meets, and the batch of completions for them:
 * running (four kinds of result, with and without a TTL), a cancellation asked for, another
 * worker's, an attempt older than the task's, a lease the rescuer took back (RETRYING, then
 * claimed again by the same worker), a cancelled task, and 150 more to take the events past one NOTIFY.
 */
async function situation(tag: string): Promise<{ ids: string[]; completions: Completion[] }> {
  const { sql, deps } = env.app;
  const queue = `cq-${tag}`;
  const running = [
    ...(await deps.queue.enqueueMany(['null', '{"a":[1,"x"]}', '"s"', '42'].map((_, i) => ({ name: 'test.record', queue, resultTtlMs: i % 2 ? 5_000 : undefined })))),
  ];
  const more = await deps.queue.enqueueMany(Array.from({ length: 150 }, () => ({ name: 'test.record', queue })));
  const claimed = await claimTasks(sql, { workerId: WORKER, limit: 200, queues: [queue], leaseMs: TTL_MS });
  expect(claimed).toHaveLength(154);
  const [cancelAsked, others, older, cancelled, lost, lostAgain] = await lateAndOthersTasks(env.app, queue, WORKER);

  const results = ['null', '{"a":[1,"x"]}', '"s"', '42'];
  const completions: Completion[] = [
    ...running.map((t, i) => ({ id: t.id, attempt: 1, returnValue: results[i] ?? 'null' })),
    ...more.map((t) => ({ id: t.id, attempt: 1, returnValue: '{}' })),
    { id: cancelAsked.id, attempt: 1, returnValue: '1' },
    { id: others.id, attempt: 1, returnValue: '2' },
    { id: older.id, attempt: 1, returnValue: '3' },
    { id: cancelled.id, attempt: 1, returnValue: '4' },
    { id: lost.id, attempt: 1, returnValue: '5' },
    { id: lostAgain.id, attempt: 1, returnValue: '6' },
  ];
  return { ids: completions.map((c) => c.id), completions };
}

describe('taskwire_complete (a worker recording its successes)', () => {
  it('is what the caller sends, a function scan; the update walks tasks_pkey for 1 or 500 tasks, with or without statistics', async () => {
    const { database } = env.app;
    await expectBatchWriteWalksPrimaryKey(env.app, { waiting: 3000, large: 500, plansOf: (count) => completionPlans(database.url, count) });
  });

  it('records, logs and announces what the statement did, and drops the same late results', async () => {
    const { sql, database } = env.app;
    const viaFunction = await situation('fn');
    const viaStatement = await situation('st');
    const recorded: string[][] = [];
    const heardFunction = await eventPayloadsOf(database.url, viaFunction.ids, async () =>
      recorded.push(await completeTasks(sql, WORKER, viaFunction.completions, TTL_MS)),
    );
    const heardStatement = await eventPayloadsOf(database.url, viaStatement.ids, async () =>
      recorded.push(await completeByStatement(sql, WORKER, viaStatement.completions, TTL_MS)),
    );
    const places = (ids: readonly string[], of: readonly string[]): number[] => ids.map((id) => of.indexOf(id)).sort((a, b) => a - b);
    // The 154 claimed and the one whose cancellation was asked for (still RUNNING under this worker).
    expect(places(recorded[0] ?? [], viaFunction.ids)).toEqual(Array.from({ length: 155 }, (_, i) => i));
    expect(places(recorded[0] ?? [], viaFunction.ids)).toEqual(places(recorded[1] ?? [], viaStatement.ids));

    const rows = await storedRows(sql, viaFunction.ids);
    expect(rows).toEqual(await storedRows(sql, viaStatement.ids));
    expect(rows.slice(0, 4).map((r) => [r.status, r.returnValue, r.ttlMs])).toEqual([
      ['SUCCEEDED', null, '60000'],
      ['SUCCEEDED', { a: [1, 'x'] }, '5000'],
      ['SUCCEEDED', 's', '60000'],
      ['SUCCEEDED', 42, '5000'],
    ]);
    expect(rows.slice(155).map((r) => [r.status, r.lockedBy])).toEqual([
      ['RUNNING', 'w-other'],
      ['RUNNING', WORKER],
      ['CANCELLED', null],
      ['RETRYING', null],
      ['RUNNING', WORKER],
    ]);

    // The function stores results as json only (drizzle/0042), the text the worker sent.
    const [columns] = await sql`
      SELECT count(*) FILTER (WHERE return_value IS NOT NULL)::int AS jsonb,
             string_agg(return_value_json::text, ' ' ORDER BY o) AS json
      FROM unnest(${viaFunction.ids.slice(0, 4)}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN tasks t ON t.id = w.id`;
    expect(columns).toEqual({ jsonb: 0, json: '{"a":[1,"x"]} "s" 42' });

    const events = await eventRows(sql, viaFunction.ids);
    expect(events).toEqual(await eventRows(sql, viaStatement.ids));
    expect(events.filter((e) => (e as { type: string }).type === 'SUCCEEDED')).toHaveLength(155);
    expect(events).toContainEqual({ o: 1, version: 3, type: 'SUCCEEDED', status: 'SUCCEEDED', attempt: 1, workerId: WORKER, progress: null, error: null });
    expect(heardFunction).toHaveLength(2);
    expect(heardFunction.join(',').split(',')).toHaveLength(155);
    expect(heardFunction).toEqual(heardStatement);
  });

  it('records nothing and sends nothing when no completion matches', async () => {
    const { sql, database } = env.app;
    const task = await insertTask(sql, { status: 'RUNNING', workerId: 'w-other' });
    const heard = await eventPayloadsOf(database.url, [task.id], async () => {
      expect(await completeTasks(sql, WORKER, [{ id: task.id, attempt: 1, returnValue: '1' }], TTL_MS)).toEqual([]);
    });
    expect(heard).toEqual([]);
    expect((await storedRows(sql, [task.id]))[0]).toMatchObject({ status: 'RUNNING', version: 2, lockedBy: 'w-other' });
  });
});
