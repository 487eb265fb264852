import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queue, QueueInfo } from '../../src/queue/index.js';
import { LIVE_STATUSES, liveQueueStats, queueStats, type LiveQueueStats, type QueueStats } from '../../src/queue/stats.js';
import { TASK_STATUSES, TERMINAL_STATUSES } from '../../src/queue/states.js';
import { blocksOf, explainedPlans } from '../helpers/explained-plans.js';
import { autoExplain } from '../../bench/lib/auto-explain.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';

// The stats of live tasks (the dashboard's queue panel: waiting and running counts) on a history
// shaped as a long-lived deployment's: most tasks finished, a small backlog, a queue whose tasks have
// all finished, tenants. They must list what the full read lists, count what it counts for the live
// statuses, and read the backlog through the partial indexes, not the history.
let app: QueueTestApp;
let acme: Queue;

/** `n` tasks of a queue, tenant and status, as rows (no event: the counts read the table alone). */
async function rows(n: number, queue: string, status: string, tenant = 'default', runAfter = "now() - interval '1 minute'"): Promise<void> {
  await app.sql`
    INSERT INTO tasks (id, name, queue, status, tenant, run_after, finished_at)
    SELECT gen_random_uuid(), 'demo.echo', ${queue}, ${status}::task_status, ${tenant}, ${app.sql.unsafe(runAfter)},
           CASE WHEN ${status} IN ('SUCCEEDED', 'FAILED', 'CANCELLED') THEN now() END
    FROM generate_series(1, ${n}) g`;
}

beforeAll(async () => {
  app = await createQueueTestApp();
  acme = app.deps.queue.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: null });
  await rows(60_000, 'big', 'SUCCEEDED');
  await rows(1_000, 'big', 'FAILED');
  await rows(40, 'big', 'PENDING');
  await rows(7, 'big', 'PENDING', 'default', "now() + interval '1 hour'");
  await rows(5, 'big', 'RUNNING');
  await rows(3, 'big', 'RETRYING');
  await rows(2, 'big', 'BLOCKED');
  // Every task finished: still listed, with live counts of zero.
  await rows(3_000, 'done', 'SUCCEEDED');
  await rows(20, 'done', 'CANCELLED');
  // A tenant: a queue of its own with a backlog, one whose tasks all finished, and a finished task
  // in a queue full of another tenant's history (its EXISTS must find it).
  await rows(500, 'acme-q', 'SUCCEEDED', 'acme');
  await rows(3, 'acme-q', 'PENDING', 'acme');
  await rows(100, 'acme-done', 'CANCELLED', 'acme');
  await rows(15_000, 'shared', 'SUCCEEDED');
  await rows(1, 'shared', 'SUCCEEDED', 'acme');
  await rows(4, 'shared', 'RUNNING');
  // Another tenant's queue: not acme's business.
  await rows(10, 'other-only', 'PENDING', 'other');
  // Settings and no task: an admin lists it, a tenant does not.
  await app.deps.queue.queueControl.setLimits('configured', { concurrency: 3 });
  await app.sql`ANALYZE tasks`;
});

afterAll(async () => {
  await app?.close();
});

/** The live part of a full read, as liveQueueStats gives it. */
function liveOf(s: QueueStats): Omit<LiveQueueStats, 'oldestPendingAgeMs' | 'oldestRunningAgeMs'> {
  return { queue: s.queue, live: true, counts: Object.fromEntries(LIVE_STATUSES.map((st) => [st, s.counts[st]])) as LiveQueueStats['counts'] };
}
const withoutAge = ({ oldestPendingAgeMs: _age, oldestRunningAgeMs: _running, ...rest }: LiveQueueStats): Omit<LiveQueueStats, 'oldestPendingAgeMs' | 'oldestRunningAgeMs'> => rest;

describe('liveQueueStats', () => {
  it('names the live statuses: every status that is not terminal', () => {
    expect([...LIVE_STATUSES]).toEqual(TASK_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s)));
  });

  it.each([null, 'acme', 'default', 'other', 'nobody'])('lists the queues and counts the live tasks the full read does (tenant %s)', async (tenant) => {
    const full = await queueStats(app.sql, tenant);
    const live = await liveQueueStats(app.sql, tenant);
    expect(live.map(withoutAge)).toEqual(full.map(liveOf));
    for (const s of live) {
      const age = full.find((f) => f.queue === s.queue)?.oldestPendingAgeMs ?? null;
      if (age === null) expect(s.oldestPendingAgeMs).toBeNull();
      else expect(Math.abs((s.oldestPendingAgeMs ?? -1e9) - age)).toBeLessThan(5_000);
    }
  });

  it('keeps a queue whose tasks all finished, and a tenant\'s lone finished task among another\'s history', async () => {
    expect((await liveQueueStats(app.sql, null)).find((s) => s.queue === 'done')).toEqual({
      queue: 'done', live: true, counts: { BLOCKED: 0, PENDING: 0, RUNNING: 0, RETRYING: 0 }, oldestPendingAgeMs: null, oldestRunningAgeMs: null,
    });
    expect((await liveQueueStats(app.sql, 'acme')).map((s) => s.queue)).toEqual(['acme-done', 'acme-q', 'shared']);
    expect(await liveQueueStats(app.sql, null, 'big')).toMatchObject([{ queue: 'big', counts: { BLOCKED: 2, PENDING: 47, RUNNING: 5, RETRYING: 3 } }]);
  });

  it('gives the age of the longest-running attempt, from its claim (last_attempted_at), by queue: a hung handler shows there', async () => {
    await app.sql`UPDATE tasks SET last_attempted_at = now() - interval '90 seconds' WHERE id = (SELECT id FROM tasks WHERE queue = 'big' AND status = 'RUNNING' LIMIT 1)`;
    await app.sql`UPDATE tasks SET last_attempted_at = now() - interval '5 seconds' WHERE queue = 'big' AND status = 'RUNNING' AND last_attempted_at IS NULL`;
    const [big] = await liveQueueStats(app.sql, null, 'big');
    expect(big?.oldestRunningAgeMs).toBeGreaterThanOrEqual(90_000);
    expect(big?.oldestRunningAgeMs).toBeLessThan(100_000);
    // No task running: none.
    expect((await liveQueueStats(app.sql, null, 'acme-q'))[0]?.oldestRunningAgeMs ?? null).toBeNull();
  });

  // [what, tenant, queue, most blocks of the live read as a share of the full read's]
  it.each([
    // A few blocks per live task and per queue; the full read reads every page of the table (of
    // one queue's tasks, for a pause's answer).
    ['every queue', null, undefined, 0.2],
    ["the queue of a pause's answer", null, 'big', 0.2],
    // The default tenant (a deployment without tenants): each queue probed for a task of it stops
    // at its first, except in queues it has no task in (acme's and other's here, 600 tasks).
    ["the default tenant's queues", 'default', undefined, 0.5],
    // Another tenant's queues: its tasks through tasks_tenant_not_default_idx, as the full read.
    ["a tenant's queues", 'acme', undefined, 1.2],
  ] as const)('reads %s without a scan of the table, the counts through the partial indexes', async (_what, tenant, queue, share) => {
    const full = await autoExplain(app.database.url, (c) => queueStats(c, tenant, queue), { buffers: true });
    const live = await autoExplain(app.database.url, (c) => liveQueueStats(c, tenant, queue), { buffers: true });
    const nodes = (await explainedPlans(app.database.url, (c) => liveQueueStats(c, tenant, queue))).flat();
    expect(nodes).not.toContain('Seq Scan on tasks');
    expect(nodes).not.toContain('Parallel Seq Scan on tasks');
    expect(nodes.some((n) => /using tasks_(status_not_succeeded|queue_claim|claim|running_queue_key|lease)_idx$/.test(n))).toBe(true);
    const [fullBlocks, liveBlocks] = [blocksOf(full.at(-1)?.plan), blocksOf(live.at(-1)?.plan)];
    expect(fullBlocks).toBeGreaterThan(400);
    expect(liveBlocks, `live ${liveBlocks} blocks, full ${fullBlocks}`).toBeLessThan(fullBlocks * share);
    if (tenant === null) expect(liveBlocks).toBeLessThan(300);
  });
});

describe('queueControl with live stats', () => {
  const settingsOf = ({ stats: _stats, ...settings }: QueueInfo<QueueStats | LiveQueueStats>) => settings;

  it.each(['admin', 'acme'] as const)('lists exactly the queues of the full read, with the same settings (%s)', async (who) => {
    const control = who === 'admin' ? app.deps.queue.queueControl : acme.queueControl;
    const full = await control.list();
    const live = await control.list('live');
    expect(live.map(settingsOf)).toEqual(full.map(settingsOf));
    expect(live.map((q) => withoutAge(q.stats))).toEqual(full.map((q) => liveOf(q.stats)));
    expect(live.map((q) => q.name)).toEqual(who === 'admin' ? ['acme-done', 'acme-q', 'big', 'configured', 'done', 'other-only', 'shared'] : ['acme-done', 'acme-q', 'shared']);
  });

  it('answers get and a limits change with live stats of that queue (zero where the tenant has none)', async () => {
    expect((await app.deps.queue.queueControl.get('big', 'live')).stats).toMatchObject({ queue: 'big', live: true, counts: { PENDING: 47, RUNNING: 5 } });
    expect((await acme.queueControl.get('big', 'live')).stats).toEqual({ queue: 'big', live: true, counts: { BLOCKED: 0, PENDING: 0, RUNNING: 0, RETRYING: 0 }, oldestPendingAgeMs: null, oldestRunningAgeMs: null });
    const limited = await app.deps.queue.queueControl.setLimits('done', { concurrency: 2 }, 'live');
    expect(limited).toMatchObject({ name: 'done', concurrency: 2, stats: { queue: 'done', live: true, counts: { PENDING: 0 } } });
    expect((await app.deps.queue.queueControl.setLimits('done', { concurrency: null })).stats.counts.SUCCEEDED).toBe(3_000);
  });
});
