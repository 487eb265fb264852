import { describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { toTask } from '../../src/queue/task.js';
import { explainedPlans } from '../helpers/explained-plans.js';
import { statisticsRows } from '../helpers/function-tests.js';
import { useQueueTestApp } from '../helpers/factories.js';

// The claim of a worker of every queue goes through taskwire_claim (drizzle/0018_claim_function.sql),
// whose plan is generic and cached: on a table never analyzed it must still walk tasks_claim_idx in
// order, leave held queues out, and write what the claim statement for named queues writes.
const env = useQueueTestApp();
const LEASE_MS = 30_000;

/** The plans of one claim of `limit` (rolled back, ANALYZE on): the caller's statement last, nested ones before it. */
function claimPlans(url: string, limit: number): Promise<string[][]> {
  return explainedPlans(
    url,
    async (c) => expect(await claimTasks(c, { workerId: 'plan-probe', limit, queues: [], leaseMs: LEASE_MS })).toHaveLength(limit),
    { analyze: true },
  );
}

async function claimOrder(sql: Sql, limit: number): Promise<string[]> {
  const rows = await sql`
    SELECT id FROM tasks WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now()
      AND queue NOT IN (SELECT name FROM queues WHERE paused OR concurrency IS NOT NULL)
    ORDER BY priority DESC NULLS LAST, run_after, id LIMIT ${limit}`;
  return rows.map((r) => String(r.id));
}

describe('taskwire_claim (the claim of a worker of every queue)', () => {
  it('walks tasks_claim_idx in order on a table never analyzed, and after ANALYZE, and leaves held queues out', async () => {
    const { sql, deps, database } = env.app;
    await sql`ALTER TABLE tasks SET (autovacuum_enabled = off)`;
    // 3,000 waiting tasks in three priorities, and a held queue whose tasks would come first.
    await deps.queue.enqueueMany(Array.from({ length: 3000 }, (_, i) => ({ name: 'test.record', priority: (i % 3) - 1 })));
    await deps.queue.enqueueMany(Array.from({ length: 50 }, () => ({ name: 'test.record', queue: 'held-q', priority: 100 })));
    await sql`INSERT INTO queues (name, paused) VALUES ('held-q', true)`;
    expect(await statisticsRows(sql)).toBe(0);

    for (const analyzed of [false, true]) {
      if (analyzed) {
        await sql`ANALYZE tasks`;
        expect(await statisticsRows(sql)).toBeGreaterThan(0);
      }
      const plans = await claimPlans(database.url, 500);
      const caller = plans.at(-1) ?? [];
      const body = plans.slice(0, -1).flat();
      // The caller's statement is a function scan: nothing of the claim is planned per call.
      expect(caller).toEqual(['Function Scan']);
      expect(body).toContain('Index Scan using tasks_claim_idx');
      expect(body).toContain('Index Scan using tasks_pkey');
      // No sort of the table's rows; the one Sort is the top-N of the claimed rows (a CTE scan of
      // `next`) finding the last task that starts at once (drizzle/0030_claimed_ahead.sql).
      expect(body.filter((n, i) => /Bitmap|Seq Scan on tasks/.test(n) || (n === 'Sort' && body[i + 1] !== 'CTE Scan'))).toEqual([]);
    }

    // someHeld false on purpose (a stale gate): the function reads the held queues itself.
    const expected = await claimOrder(sql, 10);
    const claimed = await claimTasks(sql, { workerId: 'w-all', limit: 10, queues: [], leaseMs: LEASE_MS });
    expect(claimed.map((t) => t.id)).toEqual(expected);
    expect(claimed.every((t) => t.queue !== 'held-q' && t.priority === 1)).toBe(true);
  });

  it('writes the task, its STARTED event and its notification as the claim for named queues does', async () => {
    const { sql, deps } = env.app;
    const [viaFunction, viaStatement] = await deps.queue.enqueueMany([
      { name: 'test.record', queue: 'same-a', priority: 100 },
      { name: 'test.record', queue: 'same-b', priority: 100 },
    ]);
    const before = Date.now();
    // Tasks of priority 100 come first in claim order, so the function claims same-a's (b is claimed first by name).
    const [b] = await claimTasks(sql, { workerId: 'w-named', limit: 1, queues: ['same-b'], leaseMs: LEASE_MS });
    const [a] = await claimTasks(sql, { workerId: 'w-all', limit: 1, queues: [], leaseMs: LEASE_MS });
    expect(a?.id).toBe(viaFunction?.id);
    expect(b?.id).toBe(viaStatement?.id);
    for (const [task, worker] of [[a, 'w-all'], [b, 'w-named']] as const) {
      expect(task).toMatchObject({ status: 'RUNNING', attempts: 1, version: 2, lockedBy: worker, workerIds: [worker] });
      expect(task?.startedAt).toBeInstanceOf(Date);
      const leaseMs = (task?.leaseExpiresAt?.getTime() ?? 0) - before;
      expect(leaseMs).toBeGreaterThan(LEASE_MS - 5_000);
      expect(leaseMs).toBeLessThanOrEqual(LEASE_MS + 5_000);
      await env.recorder.waitFor((e) => e.id === task?.id && e.version === 2 && e.status === 'RUNNING');
    }
    const events = await sql`
      SELECT task_id, version, type, status, attempt, worker_id FROM task_events
      WHERE task_id IN (${a?.id ?? ''}, ${b?.id ?? ''}) AND type = 'STARTED' ORDER BY worker_id`;
    expect(events.map((e) => [e.taskId, e.version, e.type, e.status, e.attempt, e.workerId])).toEqual([
      [a?.id, 2, 'STARTED', 'RUNNING', 1, 'w-all'],
      [b?.id, 2, 'STARTED', 'RUNNING', 1, 'w-named'],
    ]);
  });

  it('hands back the same Task as the row read afterwards, every field, through both claims', async () => {
    const { sql, deps } = env.app;
    // Rows as arrays (taskFromValues) must map as toTask maps object rows: fields set that a plain enqueue leaves empty.
    const [viaFunction, viaStatement] = await deps.queue.enqueueMany([
      { name: 'test.record', queue: 'full-a', priority: 99, args: [1, 'two'], kwargs: { k: [true] }, idempotencyKey: 'full-a-key' },
      { name: 'test.record', queue: 'full-b', priority: 99, args: [], kwargs: {}, timeoutMs: 1234 },
    ]);
    await sql`
      UPDATE tasks SET
        errors = ${JSON.stringify([{ exceptionType: 'E', message: 'm', traceback: 't', attempt: 1, at: '2026-01-02T03:04:05.678Z', workerId: 'w0' }])}::jsonb,
        progress = ${JSON.stringify({ current: 1, total: 2, message: 'half', updatedAt: '2026-01-02T03:04:05.678Z' })}::jsonb,
        backoff = ${JSON.stringify({ baseMs: 10, maxMs: 100, factor: 2, jitter: 0 })}::jsonb,
        attempts = 1, max_attempts = 3, result_ttl_ms = 5000, output_bytes = 17, concurrency_key = 'ck'
      WHERE id IN (${viaFunction?.id ?? ''}, ${viaStatement?.id ?? ''})`;
    const [b] = await claimTasks(sql, { workerId: 'w-full-b', limit: 1, queues: ['full-b'], leaseMs: LEASE_MS });
    const [a] = await claimTasks(sql, { workerId: 'w-full-a', limit: 1, queues: [], leaseMs: LEASE_MS });
    expect([a?.id, b?.id]).toEqual([viaFunction?.id, viaStatement?.id]);
    for (const task of [a, b]) {
      const [row] = await sql`SELECT * FROM tasks WHERE id = ${task?.id ?? ''}`;
      expect(task).toEqual(toTask(row as Record<string, unknown>));
      expect(task?.errors[0]?.at).toEqual(new Date('2026-01-02T03:04:05.678Z'));
      expect(task).toMatchObject({ attempts: 2, outputBytes: 17, concurrencyKey: 'ck', status: 'RUNNING' });
    }
  });

  it('claims nothing and notifies nothing when no task waits', async () => {
    const { sql } = env.app;
    await sql`UPDATE tasks SET status = 'CANCELLED', finished_at = now() WHERE status IN ('PENDING', 'RETRYING')`;
    const heard = env.recorder.events.length;
    expect(await claimTasks(sql, { workerId: 'w-idle', limit: 10, queues: [], leaseMs: LEASE_MS })).toEqual([]);
    const [row] = await sql`SELECT count(*)::int AS n FROM task_events WHERE worker_id = 'w-idle'`;
    expect(Number(row?.n)).toBe(0);
    // A NOTIFY sent after the ones above would arrive in order: a marker proves none came between.
    await sql`SELECT pg_notify('taskwire_events', ${'00000000-0000-7000-8000-000000000000:1:PENDING'})`;
    await env.recorder.waitFor((e) => e.id === '00000000-0000-7000-8000-000000000000');
    expect(env.recorder.events.slice(heard).map((e) => e.id)).toEqual(['00000000-0000-7000-8000-000000000000']);
  });
});
