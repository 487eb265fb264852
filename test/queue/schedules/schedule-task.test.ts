import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskCatalog } from '../../../src/queue/catalog.js';
import { claimLimitedTasks } from '../../../src/queue/queue-control/index.js';
import { createScheduler, type Scheduler, type SchedulerOptions } from '../../../src/queue/schedules/scheduler.js';
import type { UpsertScheduleInput } from '../../../src/queue/schedules/types.js';
import { createQueueTestApp, type QueueTestApp } from '../../helpers/factories.js';

// What the tasks a schedule fires carry over from it (its concurrencyKey), and what the scheduler
// says about a schedule whose task this process cannot run.
let app: QueueTestApp;
const schedulers: Scheduler[] = [];
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await app.close();
});
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.stop()));
  await app.sql`DELETE FROM schedules`;
  await app.sql`DELETE FROM tasks`;
  await app.sql`DELETE FROM task_events`;
  await app.sql`DELETE FROM queues`;
});

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A scheduler whose log lines (warn and up) are kept in `lines`. */
function scheduler(o: Partial<SchedulerOptions> = {}): { scheduler: Scheduler; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  const made = createScheduler({ sql: app.sql, log, pollIntervalMs: 60_000, ...o });
  schedulers.push(made);
  return { scheduler: made, lines };
}

const upsert = (input: Partial<UpsertScheduleInput> & { key: string }) =>
  app.deps.queue.schedules.upsert({ cron: '* * * * * *', task: { name: 'demo.echo', args: [input.key] }, ...input });

/** Makes `seconds` per-second occurrences due at `at` (a whole second, the clock runOnce is given), within the misfire grace. */
async function dueFor(id: string, seconds: number, at: Date): Promise<Date> {
  await app.sql`UPDATE schedules SET next_run_at = ${new Date(at.getTime() - (seconds - 1) * 1000)}, version = version + 1 WHERE id = ${id}`;
  return at;
}

/** A whole second `offset` s after the database's now. */
async function wholeSecond(offset = 0): Promise<Date> {
  const [row] = await app.sql`SELECT date_trunc('second', now()) AS at`;
  return new Date((row?.at as Date).getTime() + offset * 1000);
}

describe('a schedule with a concurrencyKey', () => {
  it('gives it to every occurrence and to a trigger, and the queue’s per-key limit holds for them', async () => {
    await app.deps.queue.queueControl.setLimits('accounts', { perKeyConcurrency: 1 });
    const s = await upsert({ key: 'sync-acme', task: { name: 'demo.echo', queue: 'accounts', concurrencyKey: 'acme' } });
    expect(s).toMatchObject({ concurrencyKey: 'acme', queue: 'accounts' });
    const now = await dueFor(s.id, 3, await wholeSecond());
    const round = await scheduler().scheduler.runOnce(now);
    expect(round.fired).toHaveLength(3);
    const triggered = await app.deps.queue.schedules.trigger('sync-acme');
    expect(triggered.concurrencyKey).toBe('acme');
    const fired = await app.deps.queue.getTasks(round.fired.map((f) => f.id));
    expect(fired.map((t) => t.concurrencyKey)).toEqual(['acme', 'acme', 'acme']);

    // Four of key acme waiting: one runs at a time, whoever claims.
    const first = await claimLimitedTasks(app.sql, { workerId: 'w1', limit: 10, queue: 'accounts', leaseMs: 30_000 });
    const second = await claimLimitedTasks(app.sql, { workerId: 'w2', limit: 10, queue: 'accounts', leaseMs: 30_000 });
    expect(first.tasks.map((t) => t.concurrencyKey)).toEqual(['acme']);
    expect(second.tasks).toEqual([]);
  });

  it('keeps the key through an update that gives it, and drops it through one that does not', async () => {
    await upsert({ key: 'keyed', task: { name: 'demo.echo', concurrencyKey: 'a' } });
    expect(await upsert({ key: 'keyed', task: { name: 'demo.echo', concurrencyKey: 'b' } })).toMatchObject({ concurrencyKey: 'b' });
    expect(await upsert({ key: 'keyed' })).toMatchObject({ concurrencyKey: null });
    await expect(upsert({ key: 'bad-key', task: { name: 'demo.echo', concurrencyKey: '' } })).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'task.concurrencyKey',
    });
  });
});

describe('scheduler and tasks it has no definition of', () => {
  const only = (names: string[]): TaskCatalog => ({
    get: (name) => (names.includes(name) ? app.deps.registry.get(name) : undefined),
    names: () => names,
  });

  it('warns once per schedule, not per occurrence, and fires it all the same', async () => {
    const lost = await upsert({ key: 'lost' });
    const known = await upsert({ key: 'known', task: { name: 'math.copysign', args: [1, 2] } });
    const { scheduler: s, lines } = scheduler({ catalog: only(['math.copysign']) });
    const start = await wholeSecond();
    for (let round = 0; round < 3; round++) {
      const now = new Date(start.getTime() + round * 10_000);
      await dueFor(lost.id, 2, now);
      await dueFor(known.id, 2, now);
      expect((await s.runOnce(now)).fired).toHaveLength(4);
    }
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ scheduleId: lost.id, key: 'lost', taskName: 'demo.echo', tenant: 'default' });
    expect(warnings[0]?.msg).toMatch(/^schedule "lost" fires task "demo\.echo", which this process has no definition of/);

    // Another process (a scheduler of its own) says it once too.
    const other = scheduler({ catalog: only([]) });
    const later = new Date(start.getTime() + 60_000);
    await dueFor(lost.id, 1, later);
    await other.scheduler.runOnce(await dueFor(known.id, 1, later));
    expect(other.lines.filter((l) => l.level === 40).map((l) => l.key).sort()).toEqual(['known', 'lost']);
  });

  it('says nothing for a schedule that fired nothing, nor without a catalog', async () => {
    const paused = await upsert({ key: 'paused', paused: true });
    const { scheduler: s, lines } = scheduler({ catalog: only([]) });
    await s.runOnce();
    const unchecked = scheduler();
    const now = await dueFor((await upsert({ key: 'unchecked' })).id, 1, await wholeSecond());
    expect((await unchecked.scheduler.runOnce(now)).fired).toHaveLength(1);
    expect([...lines, ...unchecked.lines]).toEqual([]);
    expect(paused.paused).toBe(true);
  });
});
