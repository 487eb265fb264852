import { describe, expect, it } from 'vitest';
import { EVENTS_CHANNEL } from '../../src/queue/events.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { snoozeTask, snoozeTasks, type Snooze } from '../../src/queue/sql/snooze-task.js';
import { eventPayloadsOf, eventRowsOf, expectBatchWriteWalksPrimaryKey, lateAndOthersTasks, plansAfterClaim, storedRowsOf } from '../helpers/function-tests.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// A worker's snoozes (ctx.retryAfter / ctx.snooze) are recorded in batches by taskwire_snooze
// (drizzle/0037_snooze_function.sql), whose plan is generic and cached. It must record what the
// one-task statement (snoozeTask, kept for hand-backs) records, drop the same late snoozes, find its
// rows by tasks_pkey for any batch, with or without statistics; and a worker must batch its snoozes.
const env = useQueueTestApp();
const WORKER = 'w-snooze';
const TTL_MS = 60_000;

/** The plans of snoozing `count` claimed tasks (plansAfterClaim). */
function snoozePlans(url: string, count: number): Promise<string[][]> {
  return plansAfterClaim(url, count, async (c, claimed) => {
    const snoozes = claimed.map((t) => ({ id: t.id, attempt: t.attempts, delayMs: 100, workflowId: null }));
    expect((await snoozeTasks(c, 'plan-probe', snoozes, TTL_MS)).size).toBe(count);
  });
}

/**
 * One set of tasks, each in a situation a snooze meets, and the batch of snoozes for them: a first
 * attempt (back to PENDING), a second (back to RETRYING, its first failure kept), a cancellation asked
 * for, another worker's, an attempt newer than the snooze's, a cancelled task, a lease the rescuer took
 * back (and one claimed again by the same worker), and 150 more to take the events past one NOTIFY.
 */
async function situation(tag: string): Promise<{ ids: string[]; snoozes: Snooze[] }> {
  const { sql, deps } = env.app;
  const queue = `sq-${tag}`;
  const first = await deps.queue.enqueueMany([{ name: 'test.record', queue, resultTtlMs: 5_000 }]);
  const more = await deps.queue.enqueueMany(Array.from({ length: 150 }, () => ({ name: 'test.record', queue })));
  expect(await claimTasks(sql, { workerId: WORKER, limit: 200, queues: [queue], leaseMs: TTL_MS })).toHaveLength(151);
  const second = await insertTask(sql, { status: 'RUNNING', queue, workerId: WORKER, attempts: 2, maxAttempts: 3 });
  const [cancelAsked, others, older, cancelled, lost, lostAgain] = await lateAndOthersTasks(env.app, queue, WORKER);
  const snoozes: Snooze[] = [
    { id: first[0]!.id, attempt: 1, delayMs: 1_500 },
    { id: second.id, attempt: 2, delayMs: 250 },
    { id: cancelAsked.id, attempt: 1, delayMs: 100 },
    ...more.map((t, i) => ({ id: t.id, attempt: 1, delayMs: i })),
    ...[others, older, cancelled, lost, lostAgain].map((t) => ({ id: t.id, attempt: 1, delayMs: 100 })),
  ];
  return { ids: snoozes.map((s) => s.id), snoozes };
}

describe('taskwire_snooze (a worker recording its handlers’ snoozes)', () => {
  it('is what the caller sends, a function scan; the update walks tasks_pkey for 1 or 500 tasks, with or without statistics', async () => {
    const { database } = env.app;
    await expectBatchWriteWalksPrimaryKey(env.app, { waiting: 3000, large: 500, plansOf: (count) => snoozePlans(database.url, count) });
  });

  it('records, logs and announces what the one-task statement does, in one statement, and drops the same late snoozes', async () => {
    const { sql, database } = env.app;
    const viaFunction = await situation('fn');
    const viaStatement = await situation('st');
    let statuses = new Map<string, string>();
    const heardFunction = await eventPayloadsOf(database.url, viaFunction.ids, async () => {
      statuses = await snoozeTasks(sql, WORKER, viaFunction.snoozes, TTL_MS);
    });
    const heardStatement = await eventPayloadsOf(database.url, viaStatement.ids, async () => {
      for (const s of viaStatement.snoozes) await snoozeTask(sql, { id: s.id, attempt: s.attempt, workerId: WORKER, delayMs: s.delayMs, defaultTtlMs: TTL_MS });
    });

    const rows = await storedRowsOf(sql, viaFunction.ids);
    expect(rows).toEqual(await storedRowsOf(sql, viaStatement.ids));
    expect(statuses.size).toBe(153);
    expect(viaFunction.ids.slice(0, 153).map((id, i) => statuses.get(id) === rows[i]?.status)).not.toContain(false);
    expect(rows.slice(0, 3).map((r) => [r.status, r.attempts, r.delayMs, r.notStarted, r.ttlMs, r.lockedBy, r.noLease])).toEqual([
      ['PENDING', 0, '1500', true, null, null, true],
      ['RETRYING', 1, '250', false, null, null, true],
      ['CANCELLED', 1, null, false, '60000', null, true],
    ]);
    expect(rows.slice(3, 153).map((r) => r.delayMs)).toEqual(Array.from({ length: 150 }, (_, i) => String(i)));
    expect(rows.slice(153).map((r) => [r.status, r.lockedBy])).toEqual([
      ['RUNNING', 'w-other'],
      ['RUNNING', WORKER],
      ['CANCELLED', null],
      ['RETRYING', null],
      ['RUNNING', WORKER],
    ]);

    const events = await eventRowsOf(sql, viaFunction.ids);
    expect(events).toEqual(await eventRowsOf(sql, viaStatement.ids));
    expect(events).toContainEqual({ o: 1, version: 3, type: 'SNOOZED', status: 'PENDING', attempt: 1, workerId: WORKER, progress: null, error: null, atFinish: true });
    expect(events).toContainEqual(expect.objectContaining({ o: 3, type: 'CANCELLED', status: 'CANCELLED', attempt: 1, workerId: WORKER, atFinish: true }));
    expect(heardFunction).toHaveLength(2);
    expect(heardStatement).toHaveLength(153);
    expect(heardFunction.join(',').split(',').sort()).toEqual(heardStatement.join(',').split(',').sort());
  });

  it('a worker whose handlers all snooze records them several to a statement, and runs each again when due', async () => {
    const { sql, deps } = env.app;
    const heard: string[] = [];
    const listener = await sql.listen(EVENTS_CHANNEL, (p) => heard.push(p));
    const tasks = await deps.queue.enqueueMany(Array.from({ length: 200 }, () => ({ name: 'test.snooze-once', args: [5], queue: 'snooze-batch' })));
    const ids = new Set(tasks.map((t) => t.id));
    // Each NOTIFY is one statement's (up to 100 changes): how many of these snoozes each announced.
    const snoozedPerNotify = (): number[] => heard.map((p) => p.split(',').filter((e) => e.endsWith(':3:PENDING') && ids.has(e.slice(0, 36))).length);
    const runner = env.app.runner({ queues: ['snooze-batch'], concurrency: 50 });
    await runner.start();
    try {
      await waitFor(async () => {
        const [row] = await sql`SELECT count(*)::int AS n FROM tasks WHERE queue = 'snooze-batch' AND status = 'SUCCEEDED'`;
        return row?.n === tasks.length && snoozedPerNotify().reduce((a, b) => a + b, 0) === tasks.length;
      }, { message: 'every task snoozed once, then done', timeoutMs: 30_000 });
    } finally {
      await runner.stop();
      await listener.unlisten();
    }
    // One statement per snooze announced each alone.
    expect(Math.max(...snoozedPerNotify())).toBeGreaterThan(1);
  });
});
