import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReservedSql } from 'postgres';
import { autoExplain, type PlanNode } from '../../bench/lib/auto-explain.js';
import { claimLimitedTasks } from '../../src/queue/queue-control/index.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import type { EnqueueInput } from '../../src/queue/index.js';
import { defineTask } from '../../src/worker/define-task.js';
import { blocksOf, indexesOf, planNodes } from '../helpers/explained-plans.js';
import { createQueueTestApp, insertTask, releaseStubborn, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// Flow control in the core (docs/flow-control.md): settings, the limited claim's strictness and
// fairness, the fast claim leaving held queues alone, waitReason, and snooze.

let snoozes = 0;
const extraTasks = [
  defineTask({
    name: 'fc.snooze-once',
    run: (_args, ctx) => {
      if (ctx.kwargs.snoozed !== true && snoozes++ === 0) ctx.retryAfter(30);
      return { attempt: ctx.attempt };
    },
  }),
  defineTask({
    name: 'fc.snooze-caught',
    run: (_args, ctx) => {
      try {
        ctx.snooze(60_000);
      } catch {
        // a handler that swallows everything still ends snoozed
      }
      return 'returned anyway';
    },
  }),
];

let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp({}, extraTasks);
});
afterAll(async () => {
  await app?.close();
});
beforeEach(async () => {
  await app.stopRunners();
  await app.sql`DELETE FROM tasks`;
  await app.sql`DELETE FROM queues`;
});

const many = (n: number, input: Omit<EnqueueInput, 'name'> & { name?: string }): EnqueueInput[] =>
  Array.from({ length: n }, () => ({ name: 'demo.echo', ...input }));
const claimer = (i: number) => `claimer-${i}`;

async function runningOf(queue: string): Promise<number> {
  const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE queue = ${queue} AND status = 'RUNNING'`;
  return Number(row?.n);
}

describe('queueControl settings', () => {
  it('pauses, limits and resumes a queue that has no task yet; null clears, undefined keeps', async () => {
    const qc = app.deps.queue.queueControl;
    const paused = await qc.pause('empty-q');
    expect(paused).toMatchObject({ name: 'empty-q', paused: true, concurrency: null, rateLimit: null });
    expect(paused.pausedAt).toBeInstanceOf(Date);
    const limited = await qc.setLimits('empty-q', { concurrency: 3, rateLimit: { max: 10, perMs: 1000 }, perKeyConcurrency: 2 });
    expect(limited).toMatchObject({ paused: true, concurrency: 3, rateLimit: { max: 10, perMs: 1000 }, perKeyConcurrency: 2 });
    expect(limited.version).toBeGreaterThan(paused.version);
    const cleared = await qc.setLimits('empty-q', { rateLimit: null });
    expect(cleared).toMatchObject({ concurrency: 3, rateLimit: null, perKeyConcurrency: 2 });
    const resumed = await qc.resume('empty-q');
    expect(resumed).toMatchObject({ paused: false, pausedAt: null });
    expect((await qc.list()).map((q) => q.name)).toContain('empty-q');
  });

  it('keeps no row for a queue left with nothing set: {} on a new name, a resume, the last limit cleared', async () => {
    // A tester's find: such rows listed the queue for good, and nothing could remove them.
    const qc = app.deps.queue.queueControl;
    expect(await qc.setLimits('never-limited', {})).toMatchObject({ name: 'never-limited', paused: false, concurrency: null });
    await qc.pause('paused-once');
    await qc.resume('paused-once');
    await qc.setLimits('limited-once', { concurrency: 2, rateLimit: { max: 5, perMs: 1000 } });
    await qc.setLimits('limited-once', { concurrency: null });
    expect((await qc.list()).map((q) => q.name)).toContain('limited-once');
    await qc.setLimits('limited-once', { rateLimit: null });
    await qc.setLimits('with-tasks', { concurrency: 1 });
    await app.deps.queue.enqueueMany([{ name: 'demo.echo', queue: 'with-tasks', args: [1], runAfter: new Date(Date.now() + 3_600_000) }]);
    await qc.setLimits('with-tasks', { concurrency: null });
    expect((await app.sql`SELECT name FROM queues ORDER BY name`).map((r) => r.name)).toEqual([]);
    // A queue with tasks is still listed, by them.
    expect((await qc.list()).map((q) => q.name)).toEqual(['with-tasks']);
  });

  it('refuses bad limits and names with BAD_USER_INPUT naming the field', async () => {
    const qc = app.deps.queue.queueControl;
    await expect(qc.setLimits('q', { concurrency: 0 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'limits.concurrency' });
    await expect(qc.setLimits('q', { rateLimit: { max: 5, perMs: 0 } })).rejects.toMatchObject({ field: 'limits.rateLimit.perMs' });
    // What only a JavaScript caller can send: said as it is, not as a TypeError or "got null".
    await expect(qc.setLimits('q', { concurrency: Number.NaN })).rejects.toMatchObject({ field: 'limits.concurrency', message: expect.stringMatching(/got NaN$/) });
    await expect(qc.setLimits('q', null as never)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'limits' });
    await expect(qc.pause('')).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    // Names enqueue refuses (the jobs channel's control prefixes): a row for them would be listed for good.
    await expect(qc.pause('cancel:x')).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    await expect(qc.setLimits('queue-control:paused:default', { concurrency: 1 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    // Names enqueue refuses because no worker's --queues could select them, or they break tables.
    for (const name of [' images', 'images ', '  ', 'a,b', 'a\nb', 'a\u001b[7m', 'a\tb']) {
      await expect(qc.pause(name), JSON.stringify(name)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    }
    await expect(qc.setLimits('a,b', { concurrency: 1 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    expect((await qc.list()).map((q) => q.name)).not.toContain('a,b');
  });

  it('still reads a queue named before enqueue refused such names, and its tasks still run', async () => {
    // insertTask stores as the SQL does, without enqueue's checks; SUCCEEDED: claimed and completed in that queue.
    const pending = await insertTask(app.sql, { queue: ' legacy' });
    const done = await insertTask(app.sql, { queue: ' legacy', status: 'SUCCEEDED' });
    const info = await app.deps.queue.queueControl.get(' legacy');
    expect(info.stats.counts).toMatchObject({ PENDING: 1, SUCCEEDED: 1 });
    expect((await app.deps.queue.getTask(pending.id))?.queue).toBe(' legacy');
    expect((await app.deps.queue.getTask(done.id))?.status).toBe('SUCCEEDED');
  });

  it('clears a rate limit only whole: perMs or max alone cannot be null, and the message says how to clear it', async () => {
    const qc = app.deps.queue.queueControl;
    await qc.setLimits('rate-q', { rateLimit: { max: 5, perMs: 1000 } });
    await expect(qc.setLimits('rate-q', { rateLimit: { max: 5, perMs: 0 } })).rejects.toThrow(
      'limits.rateLimit.perMs must be an integer from 1 to 86400000 (to clear the rate limit, set rateLimit to null); got 0',
    );
    const halves = [{ max: 5, perMs: null }, { max: null, perMs: 1000 }] as unknown as { max: number; perMs: number }[];
    for (const rateLimit of halves) await expect(qc.setLimits('rate-q', { rateLimit })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    expect((await qc.get('rate-q')).rateLimit).toEqual({ max: 5, perMs: 1000 });
    await expect(qc.setLimits('rate-q', { concurrency: 0 })).rejects.toThrow(/or null to clear it; got 0$/);
  });
});

describe('claimTasks (the fast claim)', () => {
  it('leaves paused and limited queues to the limited claim, and takes the rest', async () => {
    await app.deps.queue.enqueueMany([...many(3, { queue: 'free' }), ...many(3, { queue: 'stopped' }), ...many(3, { queue: 'capped' })]);
    await app.deps.queue.queueControl.pause('stopped');
    await app.deps.queue.queueControl.setLimits('capped', { concurrency: 1 });
    const tasks = await claimTasks(app.sql, { workerId: 'w', limit: 100, queues: [], leaseMs: 30_000 });
    expect(tasks.map((t) => t.queue).sort()).toEqual(['free', 'free', 'free']);
  });
});

describe('claimLimitedTasks', () => {
  it('never lets concurrent claimers over a concurrency limit, counting claimed-ahead and lease-expired RUNNING tasks', async () => {
    await app.deps.queue.queueControl.setLimits('c7', { concurrency: 7 });
    await app.deps.queue.enqueueMany(many(100, { queue: 'c7' }));
    // One RUNNING task whose lease ran out (its worker died): still RUNNING until rescued, so it counts.
    await app.sql`UPDATE tasks SET status = 'RUNNING', attempts = 1, locked_by = 'dead', lease_expires_at = now() - interval '1 minute'
                  WHERE id = (SELECT id FROM tasks WHERE queue = 'c7' LIMIT 1)`;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => claimLimitedTasks(app.sql, { workerId: claimer(i), limit: 5, queue: 'c7', leaseMs: 30_000 })),
    );
    expect(results.reduce((n, r) => n + r.tasks.length, 0)).toBe(6);
    expect(await runningOf('c7')).toBe(7);
    expect(results.some((r) => r.held)).toBe(true);
    // A finished task frees one place, and only one.
    await app.sql`UPDATE tasks SET status = 'SUCCEEDED', finished_at = now(), locked_by = NULL WHERE locked_by = 'dead'`;
    const after = await Promise.all([0, 1, 2].map((i) => claimLimitedTasks(app.sql, { workerId: claimer(i), limit: 5, queue: 'c7', leaseMs: 30_000 })));
    expect(after.reduce((n, r) => n + r.tasks.length, 0)).toBe(1);
  });

  it('starts at most rateLimit.max per window and says when the next window opens', async () => {
    // A day's window (the longest allowed): windows are aligned to the epoch, and a minute's boundary
    // falling between the two claims (~1 run in 10,000) would open a fresh window for the second.
    await app.deps.queue.queueControl.setLimits('r5', { rateLimit: { max: 5, perMs: 86_400_000 } });
    await app.deps.queue.enqueueMany(many(20, { queue: 'r5' }));
    const first = await claimLimitedTasks(app.sql, { workerId: 'w1', limit: 10, queue: 'r5', leaseMs: 30_000 });
    const second = await claimLimitedTasks(app.sql, { workerId: 'w2', limit: 10, queue: 'r5', leaseMs: 30_000 });
    expect(first.tasks).toHaveLength(5);
    expect(second.tasks).toHaveLength(0);
    expect(second.held).toBe(true);
    expect(second.nextWindowInMs).toBeGreaterThan(0);
    expect(second.nextWindowInMs).toBeLessThanOrEqual(86_400_000);
  });

  it('keeps the window’s starts when a rate limit is set again: the same limit, or a lower max, grants no new starts in that window', async () => {
    const qc = app.deps.queue.queueControl;
    await qc.setLimits('r-again', { rateLimit: { max: 5, perMs: 86_400_000 } });
    await app.deps.queue.enqueueMany(many(20, { queue: 'r-again' }));
    const claim = async (): Promise<number> =>
      (await claimLimitedTasks(app.sql, { workerId: 'w', limit: 10, queue: 'r-again', leaseMs: 30_000 })).tasks.length;
    expect(await claim()).toBe(5);
    // A deploy script applying its configured limits again, as every `queues limits` call does (max and perMs together).
    await qc.setLimits('r-again', { rateLimit: { max: 5, perMs: 86_400_000 } });
    expect(await claim()).toBe(0);
    await qc.setLimits('r-again', { rateLimit: { max: 2, perMs: 86_400_000 } });
    expect(await claim()).toBe(0);
    // A higher max gives this window the difference; a new window length starts counting afresh.
    await qc.setLimits('r-again', { rateLimit: { max: 7, perMs: 86_400_000 } });
    expect(await claim()).toBe(2);
    await qc.setLimits('r-again', { rateLimit: { max: 3, perMs: 43_200_000 } });
    expect(await claim()).toBe(3);
  });

  it('serves a lone key at once beside another key with 100,000 waiting (per-key limit, round-robin)', async () => {
    await app.deps.queue.queueControl.setLimits('keyed', { perKeyConcurrency: 2 });
    await app.sql`
      INSERT INTO tasks (id, name, queue, concurrency_key, run_after)
      SELECT gen_random_uuid(), 'demo.echo', 'keyed', 'A', now() - interval '1 hour' + g * interval '1 microsecond'
      FROM generate_series(1, 100000) g`;
    const [b] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', queue: 'keyed', concurrencyKey: 'B' }]);
    // At once, as what the claim reads (not milliseconds: a clock on a shared machine can fail a
    // right plan): far fewer blocks than one per task of key A (~3,000–4,000 here, nearly all the
    // look for keyless tasks, which still reads the queue's waiting tasks: docs/flow-control.md), and
    // each key's tasks by a probe of tasks_key_claim_idx: the only walk of tasks_queue_claim_idx is
    // that look (a key's probe walking it read A's 100,000 again to reach B).
    // Without statistics, then with two ANALYZE samples: with statistics the keyless look, written
    // inline, was a sequential scan of the whole table (drizzle/0024_keyless_head_function.sql).
    for (let sample = 0; sample < 3; sample++) {
      if (sample > 0) await app.sql`ANALYZE tasks`;
      const plans = await plansOf((c) => claimLimitedTasks(c, { workerId: 'w', limit: 10, queue: 'keyed', leaseMs: 30_000 }));
      expect(blocksOf(plans.at(-1)), `sample ${sample}`).toBeLessThan(20_000);
      const all = plans.flatMap((plan) => planNodes(plan));
      // (The first claim of a queue in a process also tries the claim without keys: a walk of its own.)
      const walks = all.filter((n) => n['Index Name'] === 'tasks_queue_claim_idx').map((n) => n.Filter ?? '');
      expect(walks, `sample ${sample}`).toContain('(concurrency_key IS NULL)');
      expect(walks.filter((f) => /concurrency_key = /.test(f)), `sample ${sample}`).toEqual([]);
      expect(all.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'tasks'), `sample ${sample}`).toEqual([]);
    }
    const claim = await claimLimitedTasks(app.sql, { workerId: 'w', limit: 10, queue: 'keyed', leaseMs: 30_000 });
    expect(claim.tasks.map((t) => t.concurrencyKey).sort()).toEqual(['A', 'A', 'B']);
    expect(claim.tasks.some((t) => t.id === b?.id)).toBe(true);
    // Both keys at their limit: nothing more until one finishes.
    expect((await claimLimitedTasks(app.sql, { workerId: 'w', limit: 10, queue: 'keyed', leaseMs: 30_000 })).tasks).toHaveLength(0);
  });

  it('takes nothing from a paused queue', async () => {
    await app.deps.queue.queueControl.setLimits('pl', { concurrency: 5 });
    await app.deps.queue.queueControl.pause('pl');
    await app.deps.queue.enqueueMany(many(3, { queue: 'pl' }));
    expect((await claimLimitedTasks(app.sql, { workerId: 'w', limit: 5, queue: 'pl', leaseMs: 30_000 })).tasks).toHaveLength(0);
  });
});

describe('waitReasons', () => {
  it('says SCHEDULED, QUEUE_PAUSED, KEY_LIMIT, CONCURRENCY_LIMIT, RATE_LIMIT, or null', async () => {
    const qc = app.deps.queue.queueControl;
    await qc.pause('wp');
    await qc.setLimits('wc', { concurrency: 1 });
    await qc.setLimits('wk', { perKeyConcurrency: 1 });
    await qc.setLimits('wr', { rateLimit: { max: 1, perMs: 86_400_000 } }); // a day: no window boundary between claim and look
    const [later, paused, c1, c2, k1, k2, k3, r1, r2, free] = await app.deps.queue.enqueueMany([
      { name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000) },
      { name: 'demo.echo', queue: 'wp' },
      { name: 'demo.echo', queue: 'wc' },
      { name: 'demo.echo', queue: 'wc' },
      { name: 'demo.echo', queue: 'wk', concurrencyKey: 'x' },
      { name: 'demo.echo', queue: 'wk', concurrencyKey: 'x' },
      { name: 'demo.echo', queue: 'wk', concurrencyKey: 'y' },
      { name: 'demo.echo', queue: 'wr' },
      { name: 'demo.echo', queue: 'wr' },
      { name: 'demo.echo', queue: 'other' },
    ]);
    for (const queue of ['wc', 'wr']) await claimLimitedTasks(app.sql, { workerId: 'w', limit: 1, queue, leaseMs: 30_000 });
    await app.sql`UPDATE tasks SET status = 'RUNNING', attempts = 1, locked_by = 'w' WHERE id = ${k1?.id ?? ''}`;
    const ids = [later, paused, c1, c2, k1, k2, k3, r1, r2, free].map((t) => t?.id ?? '');
    const tasks = await app.deps.queue.getTasks(ids);
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const ordered = ids.map((id) => byId.get(id)).filter((t) => t !== undefined);
    const reasons = await qc.waitReasons(ordered);
    expect(reasons).toEqual(['SCHEDULED', 'QUEUE_PAUSED', null, 'CONCURRENCY_LIMIT', null, 'KEY_LIMIT', null, null, 'RATE_LIMIT', null]);
  });

  it('judges runAfter by the database\'s clock, not the process\'s (a server minutes off)', async () => {
    const qc = app.deps.queue.queueControl;
    const [soon, due] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', queue: 'w-clock' }, { name: 'demo.echo', queue: 'w-clock' }]);
    await app.sql`UPDATE tasks SET run_after = now() + interval '2 minutes' WHERE id = ${soon?.id ?? ''}`;
    const byId = new Map((await app.deps.queue.getTasks([soon?.id ?? '', due?.id ?? ''])).map((t) => [t.id, t]));
    const tasks = [byId.get(soon?.id ?? ''), byId.get(due?.id ?? '')].filter((t) => t !== undefined);
    // Only Date is faked: this process's wall clock 5 minutes ahead, then 5 behind, of the database's.
    for (const skewMs of [300_000, -300_000]) {
      vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() + skewMs });
      try {
        expect(await qc.waitReasons(tasks)).toEqual(['SCHEDULED', null]);
      } finally {
        vi.useRealTimers();
      }
    }
  });
});

describe('runner and flow control', () => {
  it('starts nothing of a paused queue, and runs it after resume', async () => {
    await app.deps.queue.queueControl.pause('held');
    const [task] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', queue: 'held', args: [1] }]);
    const [other] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', queue: 'open', args: [2] }]);
    await app.startRunner();
    await waitFor(async () => (await app.deps.queue.getTask(other?.id ?? ''))?.status === 'SUCCEEDED', { message: 'the open queue to run' });
    expect((await app.deps.queue.getTask(task?.id ?? ''))?.status).toBe('PENDING');
    await app.deps.queue.queueControl.resume('held');
    await waitFor(async () => (await app.deps.queue.getTask(task?.id ?? ''))?.status === 'SUCCEEDED', { message: 'the resumed queue to run' });
  });

  it('runs a concurrency-limited queue to the end without going over', async () => {
    await app.deps.queue.queueControl.setLimits('lim2', { concurrency: 2 });
    await app.deps.queue.enqueueMany(many(60, { queue: 'lim2', name: 'demo.sleep', args: [5] }));
    await Promise.all([app.startRunner({ concurrency: 4 }), app.startRunner({ concurrency: 4 })]);
    let highest = 0;
    await waitFor(
      async () => {
        highest = Math.max(highest, await runningOf('lim2'));
        const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE queue = 'lim2' AND status = 'SUCCEEDED'`;
        return Number(row?.n) === 60;
      },
      { intervalMs: 5, timeoutMs: 20_000, message: '60 tasks to succeed' },
    );
    expect(highest).toBeLessThanOrEqual(2);
    expect(highest).toBeGreaterThan(0);
  });

  it.each([[[]], [['lo', 'mid', 'hi']]])('keeps one order across queues, limited ones among them (queues %j)', async (queues) => {
    // A tester's find (session 49): a limited queue was always claimed first, so its priority -100
    // tasks started ahead of another queue's priority 100; two limited queues took turns.
    await app.deps.queue.queueControl.setLimits('lo', { concurrency: 100 });
    await app.deps.queue.queueControl.setLimits('mid', { concurrency: 100 });
    await app.deps.queue.enqueueMany([
      ...many(4, { queue: 'lo', priority: -100, args: ['lo'] }),
      ...many(3, { queue: 'mid', priority: 50, args: ['mid'] }),
      ...many(4, { queue: 'hi', priority: 100, args: ['hi'] }),
    ]);
    // One slot, nothing claimed ahead: each claim takes one task, so the start order is the claim order.
    await app.startRunner({ concurrency: 1, prefetchMs: 0, queues });
    await waitFor(async () => (await app.sql`SELECT 1 FROM tasks WHERE status <> 'SUCCEEDED'`).length === 0, { message: 'every task to run' });
    const started = await app.sql<Array<{ queue: string }>>`SELECT queue FROM tasks ORDER BY started_at, id`;
    expect(started.map((t) => t.queue)).toEqual(['hi', 'hi', 'hi', 'hi', 'mid', 'mid', 'mid', 'lo', 'lo', 'lo', 'lo']);
  });

  it('keeps one order with one limited queue too, which a claim reads no heads for once nothing is due elsewhere', async () => {
    await app.deps.queue.queueControl.setLimits('lo', { concurrency: 100 });
    await app.deps.queue.enqueueMany([...many(3, { queue: 'lo', priority: -100, args: ['lo'] }), ...many(3, { queue: 'hi', priority: 100, args: ['hi'] })]);
    await app.startRunner({ concurrency: 1, prefetchMs: 0 });
    await waitFor(async () => (await app.sql`SELECT 1 FROM tasks WHERE status <> 'SUCCEEDED'`).length === 0, { message: 'every task to run' });
    const started = await app.sql<Array<{ queue: string }>>`SELECT queue FROM tasks ORDER BY started_at, id`;
    expect(started.map((t) => t.queue)).toEqual(['hi', 'hi', 'hi', 'lo', 'lo', 'lo']);
  });

  it('snooze sends the task back without using an attempt, with a SNOOZED event; a caught snooze still snoozes', async () => {
    snoozes = 0;
    const [task, caught] = await app.deps.queue.enqueueMany([{ name: 'fc.snooze-once' }, { name: 'fc.snooze-caught' }]);
    await app.startRunner();
    const done = await waitFor(async () => {
      const t = await app.deps.queue.getTask(task?.id ?? '');
      return t?.status === 'SUCCEEDED' ? t : undefined;
    });
    expect(done).toMatchObject({ attempts: 1, maxAttempts: 1, returnValue: { attempt: 1 }, errors: [] });
    const events = await app.sql`SELECT type, status, attempt FROM task_events WHERE task_id = ${done.id} ORDER BY version`;
    expect(events.map((e) => `${e.type}:${e.status}:${e.attempt}`)).toEqual([
      'ENQUEUED:PENDING:0',
      'STARTED:RUNNING:1',
      'SNOOZED:PENDING:1',
      'STARTED:RUNNING:1',
      'SUCCEEDED:SUCCEEDED:1',
    ]);
    const later = await waitFor(async () => {
      const t = await app.deps.queue.getTask(caught?.id ?? '');
      return t?.status === 'PENDING' && t.version > 1 ? t : undefined;
    });
    expect(later.attempts).toBe(0);
    expect(later.runAfter.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(await app.deps.queue.queueControl.waitReasons([later])).toEqual(['SCHEDULED']);
  });
});

/**
 * The plans auto_explain logs while `run` runs, with the blocks each node touched, in a transaction
 * rolled back: a SQL function's body first (its blocks counted again in its caller's node), the
 * caller's statement last.
 */
async function plansOf(run: (c: ReservedSql) => Promise<unknown>): Promise<PlanNode[]> {
  return (await autoExplain(app.database.url, run, { buffers: true })).map((p) => p.plan);
}

/** The plan of the last statement `run` sends (see plansOf). */
async function lastPlan(run: (c: ReservedSql) => Promise<unknown>): Promise<PlanNode | undefined> {
  return (await plansOf(run)).at(-1);
}

/** The tasks a claim of 2 would take, the blocks its statement touches and the indexes it and the functions it calls walk (rolled back). */
async function claimBlocks(p: { someHeld: boolean }): Promise<{ ids: string[]; blocks: number; indexes: string[] }> {
  let ids: string[] = [];
  const plans = await plansOf(async (c) => {
    ids = (await claimTasks(c, { workerId: 'w', limit: 2, queues: [], leaseMs: 30_000, ...p })).map((t) => t.id);
  });
  return { ids, blocks: blocksOf(plans.at(-1)), indexes: indexesOf(plans) };
}

describe('claimTasks while some queue is held', () => {
  it('walks the waiting queues: takes the open queue\'s tasks in claim order behind a 50,000-task paused backlog, quickly', async () => {
    await app.deps.queue.queueControl.pause('backlog');
    await app.sql`
      INSERT INTO tasks (id, name, queue, run_after)
      SELECT gen_random_uuid(), 'demo.echo', 'backlog', now() - interval '1 hour' FROM generate_series(1, 50000)`;
    const open = await app.deps.queue.enqueueMany([
      { name: 'demo.echo', queue: 'open-a', priority: 5 },
      { name: 'demo.echo', queue: 'open-b' },
      { name: 'demo.echo', queue: 'open-a' },
    ]);
    await app.sql`ANALYZE tasks`;
    // Quickly as blocks touched, not milliseconds (see above): the claim in claim order walks the
    // paused backlog's ~50,000 index entries to skip them (~52,000 blocks here), the walk by queue
    // a probe per queue (~100–1,200 blocks, the writes included).
    const walking = await claimBlocks({ someHeld: false });
    expect(walking.ids).toEqual([open[0]?.id, open[1]?.id]);
    expect(walking.blocks).toBeGreaterThan(10_000);
    // ANALYZE samples the table, and the plan can change with the sample: a queue's probe written
    // inline as `queue = $q` took tasks_claim_idx (every queue in claim order, filtered) after about
    // one ANALYZE in seven here, walking the backlog again (~100,000 blocks); the probe is now
    // taskwire_queue_head (drizzle/0023_queue_head_function.sql). Eight samples.
    for (let sample = 0; sample < 8; sample++) {
      if (sample > 0) await app.sql`ANALYZE tasks`;
      const skipping = await claimBlocks({ someHeld: true });
      expect(skipping.indexes, `sample ${sample}`).not.toContain('tasks_claim_idx');
      expect(skipping.blocks, `sample ${sample}`).toBeLessThan(walking.blocks / 10);
    }
    const claimed = await claimTasks(app.sql, { workerId: 'w', limit: 2, queues: [], leaseMs: 30_000, someHeld: true });
    // Priority first, then run_after and id: the same two the plain claim would take.
    expect(claimed.map((t) => t.id)).toEqual([open[0]?.id, open[1]?.id]);
    const plan = await app.sql`EXPLAIN SELECT (SELECT queue FROM tasks WHERE status IN ('PENDING', 'RETRYING') AND queue > 'a'
                                               ORDER BY queue, priority DESC NULLS LAST, run_after, id LIMIT 1)`;
    expect(plan.map((r) => String(r['QUERY PLAN'])).join('\n')).toContain('tasks_queue_claim_idx');
    const rest = await claimTasks(app.sql, { workerId: 'w', limit: 10, queues: ['open-a'], leaseMs: 30_000, someHeld: true });
    expect(rest.map((t) => t.id)).toEqual([open[2]?.id]);
  });
});

describe('claimTasks for a worker of some queues', () => {
  it('probes its own queues: behind 50,000 waiting tasks of another queue, it reads a few blocks, whatever ANALYZE sampled (a limited queue too)', async () => {
    await app.sql`
      INSERT INTO tasks (id, name, queue, priority, run_after)
      SELECT gen_random_uuid(), 'demo.echo', 'busy', 5, now() - interval '1 hour' FROM generate_series(1, 50000)`;
    const mine = await app.deps.queue.enqueueMany([
      { name: 'demo.echo', queue: 'mine-b' },
      { name: 'demo.echo', queue: 'mine-a', priority: 1 },
      { name: 'demo.echo', queue: 'mine-a' },
    ]);
    // The busy queue's tasks come first in claim order: walking the claim order to reach this
    // worker's queues would read every one of them (one block each, ~50,000).
    for (let sample = 0; sample < 4; sample++) {
      await app.sql`ANALYZE tasks`;
      let ids: string[] = [];
      const plan = await lastPlan(async (c) => {
        ids = (await claimTasks(c, { workerId: 'w', limit: 2, queues: ['mine-a', 'mine-b', 'mine-a'], leaseMs: 30_000 })).map((t) => t.id);
      });
      // Priority first, then run_after and id, over its queues only.
      expect(ids, `sample ${sample}`).toEqual([mine[1]?.id, mine[0]?.id]);
      expect(blocksOf(plan), `sample ${sample}`).toBeLessThan(1000);
    }
    const claimed = await claimTasks(app.sql, { workerId: 'w', limit: 10, queues: ['mine-a', 'mine-b'], leaseMs: 30_000 });
    expect(claimed.map((t) => t.id)).toEqual([mine[1]?.id, mine[0]?.id, mine[2]?.id]);

    // A claim of 500 from the busy queue, with statistics: the head of tasks_queue_claim_idx, not a
    // bitmap scan of the whole queue and a sort (what the probe written inline as a range took).
    const plans = await plansOf((c) => claimTasks(c, { workerId: 'w', limit: 500, queues: ['busy'], leaseMs: 30_000 }));
    expect([...new Set(indexesOf(plans))].sort()).toEqual(['tasks_pkey', 'tasks_queue_claim_idx']);

    // A limited queue's claim (under its lock, claimLimitedTasks) probes its queue the same way.
    await app.deps.queue.queueControl.setLimits('mine-c', { concurrency: 5 });
    const [limited] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', queue: 'mine-c' }]);
    for (let sample = 0; sample < 4; sample++) {
      await app.sql`ANALYZE tasks`;
      let ids: string[] = [];
      const plan = await lastPlan(async (c) => {
        ids = (await claimLimitedTasks(c, { workerId: 'w', limit: 2, queue: 'mine-c', leaseMs: 30_000 })).tasks.map((t) => t.id);
      });
      expect(ids, `sample ${sample}`).toEqual([limited?.id]);
      expect(blocksOf(plan), `sample ${sample}`).toBeLessThan(1000);
    }
  });
});

describe('runner: pausing a queue it holds tasks of', () => {
  it('hands back the tasks claimed ahead and not started (RELEASED, attempt not used), and runs them after resume', async () => {
    const runner = await app.startRunner({ concurrency: 1, prefetchMs: 5000, releaseWaitingAfterMs: 60_000 });
    // A first quick task gives the runner a run-time estimate, so that it claims ahead.
    const [warm] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', queue: 'pq' }]);
    await waitFor(async () => (await app.deps.queue.getTask(warm?.id ?? ''))?.status === 'SUCCEEDED');
    const [blocker, ...ahead] = await app.deps.queue.enqueueMany([
      { name: 'test.stubborn', queue: 'pq', priority: 10 },
      ...many(5, { queue: 'pq' }),
    ]);
    await waitFor(() => runner.waiting === 5 || undefined, { message: 'five tasks claimed ahead' });
    await app.deps.queue.queueControl.pause('pq');
    await waitFor(async () => {
      const tasks = await app.deps.queue.getTasks(ahead.map((t) => t.id));
      return tasks.every((t) => t.status === 'PENDING' && t.attempts === 0) || undefined;
    }, { timeoutMs: 2000, message: 'the claimed-ahead tasks to go back' });
    expect(runner.waiting).toBe(0);
    const [released] = await app.sql`SELECT count(*)::int AS n FROM task_events WHERE type = 'RELEASED' AND task_id = ANY(${ahead.map((t) => t.id)}::uuid[])`;
    expect(released?.n).toBe(5);
    releaseStubborn();
    await app.deps.queue.queueControl.resume('pq');
    await waitFor(async () => {
      const tasks = await app.deps.queue.getTasks([blocker?.id ?? '', ...ahead.map((t) => t.id)]);
      return tasks.every((t) => t.status === 'SUCCEEDED') || undefined;
    }, { message: 'every task to run after resume' });
  });
});
