import { describe, expect, it } from 'vitest';
import type { Executor } from '../../src/db/client.js';
import { changeTailSql, EVENTS_CHANNEL, WORKER_OF_ATTEMPT } from '../../src/queue/events.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { CLOCK_AT, CLOCK_CTE } from '../../src/queue/sql/clock.js';
import { failTasks, type Failure } from '../../src/queue/sql/fail-tasks.js';
import { workflowLockCte, WORKFLOWS_FIRST } from '../../src/queue/sql/workflow-locks.js';
import { eventPayloadsOf, eventRowsOf, expectBatchWriteWalksPrimaryKey, lateAndOthersTasks, plansAfterClaim, storedRowsOf } from '../helpers/function-tests.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// A worker's failed attempts are recorded in batches by taskwire_fail (drizzle/0036_fail_function.sql),
// whose plan is generic and cached. It must record what the one-task statement it replaced recorded
// (kept below), drop the same late failures, and find its rows by tasks_pkey for any batch, with or
// without statistics; and a worker must send its failures to it in batches.
const env = useQueueTestApp();
const WORKER = 'w-fail';
const TTL_MS = 60_000;

/** The statement failTask sent for one failure before taskwire_fail, word for word but for last_event_tx (drizzle/0041). */
async function failByStatement(exec: Executor, workerId: string, f: Failure, defaultTtlMs: number): Promise<void> {
  const tail = changeTailSql({
    type: `CASE status WHEN 'RETRYING' THEN 'RETRY_SCHEDULED' WHEN 'FAILED' THEN 'FAILED' ELSE 'CANCELLED' END`,
    worker: WORKER_OF_ATTEMPT,
    error: 'errors -> -1',
    at: CLOCK_AT,
  });
  const retry = f.retryDelayMs !== null;
  const delay = f.retryDelayMs ?? 0;
  const retrying = exec`(NOT cancel_requested AND ${retry} AND attempts < max_attempts)`;
  await exec`
    WITH ${exec.unsafe(CLOCK_CTE)},
    ${workflowLockCte(exec, exec`SELECT workflow_id FROM tasks WHERE id = ${f.id}`)},
    changed AS (
      UPDATE tasks SET
        status = (CASE WHEN cancel_requested THEN 'CANCELLED' WHEN ${retrying} THEN 'RETRYING' ELSE 'FAILED' END)::task_status,
        errors = errors || jsonb_build_array(${f.error}::jsonb),
        version = version + 1,
        last_event_tx = greatest(last_event_tx, pg_current_xact_id()),
        run_after = CASE WHEN ${retrying} THEN (SELECT at FROM clock) + ${delay} * interval '1 millisecond' ELSE run_after END,
        finished_at = CASE WHEN ${retrying} THEN NULL ELSE (SELECT at FROM clock) END,
        expires_at = CASE WHEN ${retrying} THEN NULL
                     ELSE (SELECT at FROM clock) + coalesce(result_ttl_ms, ${defaultTtlMs}) * interval '1 millisecond' END,
        locked_by = NULL,
        lease_expires_at = NULL
      WHERE id = ${f.id} AND status = 'RUNNING' AND locked_by = ${workerId} AND attempts = ${f.attempt}
        AND ${exec.unsafe(WORKFLOWS_FIRST)}
      RETURNING *
    ),
    ${exec.unsafe(tail)}`;
}

function errorOf(i: number, attempt = 1): string {
  return JSON.stringify({ exceptionType: 'Error', message: `failure ${i}`, traceback: `Error: failure ${i}\n    at x`, attempt, at: '2026-12-06T00:00:00.000Z', workerId: WORKER });
}

/** The plans of failing `count` claimed tasks (plansAfterClaim). */
function failurePlans(url: string, count: number): Promise<string[][]> {
  return plansAfterClaim(url, count, async (c, claimed) => {
    const failures = claimed.map((t, i) => ({ id: t.id, attempt: t.attempts, error: errorOf(i), retryDelayMs: i % 2 ? null : 100, workflowId: null }));
    expect((await failTasks(c, 'plan-probe', failures, TTL_MS)).size).toBe(count);
  });
}

/**
 * One set of tasks, each in a situation a failure meets, and the batch of failures for them:
 * running with attempts left (a retry asked, and none asked), with none left, with a TTL of its own,
 * a cancellation asked for (attempts left), another worker's, an attempt older than the task's, a
 * cancelled task, a lease the rescuer took back (RETRYING, then claimed again by the same worker),
 * and 150 more (half retrying, half failing) to take the events past one NOTIFY.
 */
async function situation(tag: string): Promise<{ ids: string[]; failures: Failure[] }> {
  const { sql, deps } = env.app;
  const queue = `fq-${tag}`;
  const running = await deps.queue.enqueueMany([
    { name: 'test.record', queue, maxAttempts: 3 },
    { name: 'test.record', queue, maxAttempts: 1 },
    { name: 'test.record', queue, maxAttempts: 3 },
    { name: 'test.record', queue, maxAttempts: 1, resultTtlMs: 5_000 },
  ]);
  const more = await deps.queue.enqueueMany(Array.from({ length: 150 }, (_, i) => ({ name: 'test.record', queue, maxAttempts: 1 + (i % 2) })));
  const claimed = await claimTasks(sql, { workerId: WORKER, limit: 200, queues: [queue], leaseMs: TTL_MS });
  expect(claimed).toHaveLength(154);
  const [cancelAsked, others, older, cancelled, lost, lostAgain] = await lateAndOthersTasks(env.app, queue, WORKER);

  const delays = [1_500, 1_500, null, 250];
  const failures: Failure[] = [
    ...running.map((t, i) => ({ id: t.id, attempt: 1, error: errorOf(i), retryDelayMs: delays[i] ?? null })),
    ...more.map((t, i) => ({ id: t.id, attempt: 1, error: errorOf(10 + i), retryDelayMs: 250 })),
    ...[cancelAsked, others, older, cancelled, lost, lostAgain].map((t, i) => ({ id: t.id, attempt: 1, error: errorOf(200 + i), retryDelayMs: 100 })),
  ];
  return { ids: failures.map((f) => f.id), failures };
}

describe('taskwire_fail (a worker recording its failed attempts)', () => {
  it('is what the caller sends, a function scan; the update walks tasks_pkey for 1 or 500 tasks, with or without statistics', async () => {
    const { database } = env.app;
    await expectBatchWriteWalksPrimaryKey(env.app, { waiting: 3000, input: { maxAttempts: 2 }, large: 500, plansOf: (count) => failurePlans(database.url, count) });
  });

  it('records, logs and announces what the one-task statement did, in one statement, and drops the same late failures', async () => {
    const { sql, database } = env.app;
    const viaFunction = await situation('fn');
    const viaStatement = await situation('st');
    let statuses = new Map<string, string>();
    const heardFunction = await eventPayloadsOf(database.url, viaFunction.ids, async () => {
      statuses = await failTasks(sql, WORKER, viaFunction.failures, TTL_MS);
    });
    const heardStatement = await eventPayloadsOf(database.url, viaStatement.ids, async () => {
      for (const f of viaStatement.failures) await failByStatement(sql, WORKER, f, TTL_MS);
    });

    const rows = await storedRowsOf(sql, viaFunction.ids);
    expect(rows).toEqual(await storedRowsOf(sql, viaStatement.ids));
    // The 154 claimed and the one whose cancellation was asked for; each as its row says.
    expect(statuses.size).toBe(155);
    expect(viaFunction.ids.slice(0, 155).map((id, i) => statuses.get(id) === rows[i]?.status)).not.toContain(false);
    expect(rows.slice(0, 4).map((r) => [r.status, r.ttlMs, r.delayMs, r.unfinished, r.lockedBy, r.noLease])).toEqual([
      ['RETRYING', null, '1500', true, null, true],
      ['FAILED', '60000', null, false, null, true],
      ['FAILED', '60000', null, false, null, true],
      ['FAILED', '5000', null, false, null, true],
    ]);
    const { at: _at, ...stored } = JSON.parse(errorOf(0)) as Record<string, unknown>;
    expect(rows[0]?.errors).toEqual([stored]);
    expect(rows.slice(4, 154).map((r) => r.status)).toEqual(Array.from({ length: 150 }, (_, i) => (i % 2 ? 'RETRYING' : 'FAILED')));
    expect(rows.slice(154).map((r) => [r.status, r.lockedBy])).toEqual([
      ['CANCELLED', null],
      ['RUNNING', 'w-other'],
      ['RUNNING', WORKER],
      ['CANCELLED', null],
      ['RETRYING', null],
      ['RUNNING', WORKER],
    ]);

    const events = await eventRowsOf(sql, viaFunction.ids);
    expect(events).toEqual(await eventRowsOf(sql, viaStatement.ids));
    expect([...statuses.values()].filter((s) => s === 'RETRYING')).toHaveLength(1 + 75);
    expect(events).toContainEqual({ o: 1, version: 3, type: 'RETRY_SCHEDULED', status: 'RETRYING', attempt: 1, workerId: WORKER, progress: null, error: stored, atFinish: true });
    expect(events).toContainEqual(expect.objectContaining({ o: 155, type: 'CANCELLED', status: 'CANCELLED', error: expect.objectContaining({ message: 'failure 200' }) }));
    // One statement: two NOTIFYs of up to 100 changes, where the statement sent one per task.
    expect(heardFunction).toHaveLength(2);
    expect(heardStatement).toHaveLength(155);
    expect(heardFunction.join(',').split(',').sort()).toEqual(heardStatement.join(',').split(',').sort());
  });

  it('records nothing and sends nothing when no failure matches', async () => {
    const { sql, database } = env.app;
    const task = await insertTask(sql, { status: 'RUNNING', workerId: 'w-other' });
    const heard = await eventPayloadsOf(database.url, [task.id], async () => {
      expect((await failTasks(sql, WORKER, [{ id: task.id, attempt: 1, error: errorOf(0), retryDelayMs: null }], TTL_MS)).size).toBe(0);
    });
    expect(heard).toEqual([]);
    expect((await storedRowsOf(sql, [task.id]))[0]).toMatchObject({ status: 'RUNNING', version: 2, lockedBy: 'w-other' });
  });

  it('a worker whose attempts all fail records them several to a statement', async () => {
    const { sql, deps } = env.app;
    const heard: string[] = [];
    const listener = await sql.listen(EVENTS_CHANNEL, (p) => heard.push(p));
    const tasks = await deps.queue.enqueueMany(Array.from({ length: 200 }, () => ({ name: 'demo.fail', args: ['down'], queue: 'fail-batch' })));
    const ids = new Set(tasks.map((t) => t.id));
    // Each NOTIFY is one statement's (up to 100 changes): how many of these failures each announced.
    const failedPerNotify = (): number[] => heard.map((p) => p.split(',').filter((e) => e.endsWith(':FAILED') && ids.has(e.slice(0, 36))).length);
    const runner = env.app.runner({ queues: ['fail-batch'], concurrency: 50 });
    await runner.start();
    try {
      await waitFor(() => failedPerNotify().reduce((a, b) => a + b, 0) === tasks.length, { message: 'every failure announced', timeoutMs: 30_000 });
    } finally {
      await runner.stop();
      await listener.unlisten();
    }
    const [row] = await sql`SELECT count(*)::int AS n FROM tasks WHERE queue = 'fail-batch' AND status = 'FAILED'`;
    expect(row?.n).toBe(tasks.length);
    const perNotify = failedPerNotify();
    // One statement per failure announced each alone.
    expect(Math.max(...perNotify)).toBeGreaterThan(1);
  });
});
