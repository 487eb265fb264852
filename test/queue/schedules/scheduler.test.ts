import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { parseCron } from '../../../src/queue/schedules/cron.js';
import { planFiring } from '../../../src/queue/schedules/plan.js';
import { createScheduler, type Scheduler, type SchedulerOptions } from '../../../src/queue/schedules/scheduler.js';
import { fireSchedules, readDueSchedules } from '../../../src/queue/schedules/sql/fire-schedules.js';
import type { MissedRunPolicy, UpsertScheduleInput } from '../../../src/queue/schedules/types.js';
import { uuidv7 } from '../../../src/queue/uuid.js';
import { createQueueTestApp, type QueueTestApp } from '../../helpers/factories.js';
import { captureLog } from '../../helpers/log-capture.js';
import { waitFor } from '../../helpers/wait.js';

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
  await app.stopRunners();
  await app.sql`DELETE FROM schedules`;
  await app.sql`DELETE FROM tasks`;
  await app.sql`DELETE FROM task_events`;
});

function scheduler(o: Partial<SchedulerOptions> = {}): Scheduler {
  const made = createScheduler({ sql: app.sql, log: silentLogger, pollIntervalMs: 60_000, ...o });
  schedulers.push(made);
  return made;
}

const schedules = () => app.deps.queue.schedules;
const upsert = (input: Partial<UpsertScheduleInput> & { key: string }) =>
  schedules().upsert({ cron: '*/5 * * * *', task: { name: 'demo.echo', args: [input.key] }, ...input });

async function tasksOf(scheduleId: string): Promise<{ id: string; scheduledFor: Date | null; status: string }[]> {
  const rows = await app.sql`SELECT id, scheduled_for, status FROM tasks WHERE schedule_id = ${scheduleId} ORDER BY scheduled_for NULLS LAST, id`;
  return rows.map((r) => ({ id: r.id as string, scheduledFor: r.scheduledFor as Date | null, status: r.status as string }));
}

/** Sets a schedule's next_run_at back to `at`, as if no scheduler had run since. */
async function dueSince(scheduleId: string, at: Date): Promise<void> {
  await app.sql`UPDATE schedules SET next_run_at = ${at}, version = version + 1 WHERE id = ${scheduleId}`;
}

describe('queue.schedules.upsert', () => {
  it('creates a schedule with the defaults and its next occurrence, and updates it by key without touching a pause', async () => {
    const [row] = await app.sql`SELECT now() AS now`;
    const before = row?.now as Date;
    const created = await upsert({ key: 'report' });
    expect(created).toMatchObject({ key: 'report', timezone: 'UTC', overlap: 'ALLOW', missed: 'RUN_ONCE', paused: false, taskName: 'demo.echo', args: ['report'], version: 1 });
    // The next occurrence after the database's clock at the upsert: that clock is read before the row's
    // created_at, so a five-minute boundary between the two (~1 run in 100,000) allows either.
    const cron = parseCron('*/5 * * * *').zoned;
    expect([cron.nextRun(before)?.getTime(), cron.nextRun(created.createdAt)?.getTime()]).toContain(created.nextRunAt?.getTime());

    await schedules().pause('report');
    const updated = await upsert({ key: 'report', cron: '0 * * * *', timezone: 'Europe/Paris', overlap: 'SKIP' });
    expect(updated).toMatchObject({ id: created.id, cron: '0 * * * *', timezone: 'Europe/Paris', overlap: 'SKIP', missed: 'RUN_ONCE', paused: true, version: 3 });
    const stored = await app.sql`SELECT next_run_at FROM schedules WHERE id = ${created.id}`;
    expect(new Date(stored[0]?.nextRunAt as Date).getUTCMinutes()).toBe(0);
  });

  it('refuses bad input naming the field, and stores nothing', async () => {
    const code = async (input: Partial<UpsertScheduleInput>): Promise<unknown> =>
      upsert({ key: 'bad', ...input }).then(
        () => 'stored',
        (e: { code: string; field: string }) => ({ code: e.code, field: e.field }),
      );
    expect(await code({ cron: '* * *' })).toEqual({ code: 'BAD_USER_INPUT', field: 'cron' });
    expect(await code({ timezone: 'Nowhere/Atlantis' })).toEqual({ code: 'BAD_USER_INPUT', field: 'timezone' });
    expect(await code({ overlap: 'NEVER' as 'SKIP' })).toEqual({ code: 'BAD_USER_INPUT', field: 'overlap' });
    expect(await code({ missed: 'SOMETIMES' as 'SKIP' })).toEqual({ code: 'BAD_USER_INPUT', field: 'missed' });
    expect(await code({ key: '' })).toEqual({ code: 'BAD_USER_INPUT', field: 'key' });
    expect(await code({ task: { name: 'no.such.task' } })).toEqual({ code: 'UNKNOWN_TASK', field: 'task.name' });
    expect(await code({ task: { name: 'demo.echo', priority: 500 } })).toEqual({ code: 'BAD_USER_INPUT', field: 'task.priority' });
    expect((await app.sql`SELECT count(*)::int AS n FROM schedules`)[0]?.n).toBe(0);
  });

  it('keeps tenants apart: another tenant’s key is unknown to a scoped queue', async () => {
    await upsert({ key: 'shared' });
    const acme = app.deps.queue.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: 'k1' }).schedules;
    expect(await acme.get('shared')).toBeUndefined();
    await expect(acme.pause('shared')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(acme.trigger('shared')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await acme.delete('shared')).toBe(false);
    const own = await acme.upsert({ key: 'shared', cron: '* * * * *', task: { name: 'demo.echo' } });
    expect(own.tenant).toBe('acme');
    expect((await acme.list()).schedules.map((s) => s.tenant)).toEqual(['acme']);
    expect((await schedules().list()).schedules).toHaveLength(2);
  });
});

describe('scheduler.runOnce', () => {
  it('enqueues one task per occurrence, with scheduledFor, its ENQUEUED event, and never twice', async () => {
    const s = await upsert({ key: 'tick', cron: '* * * * * *' });
    const at = s.nextRunAt as Date;
    const round = await scheduler().runOnce(new Date(at.getTime() + 500));
    expect(round.fired.map((f) => f.scheduledFor.toISOString())).toEqual([at.toISOString()]);
    expect(await scheduler().runOnce(new Date(at.getTime() + 500))).toMatchObject({ fired: [], claimed: 0 });

    const [task] = await tasksOf(s.id);
    const full = await app.deps.queue.getTask(task?.id as string);
    expect(full).toMatchObject({ name: 'demo.echo', args: ['tick'], status: 'PENDING', scheduleId: s.id, scheduledFor: at });
    const events = await app.sql`SELECT type FROM task_events WHERE task_id = ${task?.id as string}`;
    expect(events.map((e) => e.type)).toEqual(['ENQUEUED']);
    const after = await schedules().get('tick');
    expect(after).toMatchObject({ lastTaskId: task?.id, nextRunAt: new Date(at.getTime() + 1000), version: 2 });
  });

  it('lets only one of many schedulers racing on the same due schedules fire each occurrence', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `race-${i}`);
    const made = await Promise.all(keys.map((key) => upsert({ key, cron: '* * * * * *' })));
    const now = new Date(Math.max(...made.map((s) => (s.nextRunAt as Date).getTime())) + 2_500);
    const rounds = await Promise.all(Array.from({ length: 6 }, () => scheduler().runOnce(now)));
    expect(rounds.reduce((n, r) => n + r.duplicates, 0)).toBe(0);
    const rows = await app.sql`SELECT schedule_id, scheduled_for, count(*)::int AS n FROM tasks GROUP BY 1, 2`;
    expect(rows.every((r) => r.n === 1)).toBe(true);
    // Each schedule: every second from its first occurrence up to now, none missing.
    for (const s of made) {
      const expected = Math.floor((now.getTime() - (s.nextRunAt as Date).getTime()) / 1000) + 1;
      expect((await tasksOf(s.id)).length).toBe(expected);
    }
  });

  it('claims nothing with a plan computed before the schedule was edited, and fires the edited one', async () => {
    const s = await upsert({ key: 'edited', cron: '* * * * * *' });
    const now = new Date((s.nextRunAt as Date).getTime() + 200);
    const { due } = await readDueSchedules(app.sql, { limit: 10, now });
    const read = due.find((d) => d.id === s.id);
    expect(read).toBeDefined();
    const plan = planFiring({ spec: parseCron(read?.cron, read?.timezone), missed: 'RUN_ONCE', nextRunAt: read?.nextRunAt as Date, now, graceMs: 60_000, catchUpMax: 10 });
    // Edited while the occurrence is due: another task, another cron.
    await upsert({ key: 'edited', cron: '*/2 * * * * *', task: { name: 'demo.echo', args: ['v2'] } });
    const stale = await fireSchedules(app.sql, [{ scheduleId: s.id, version: read?.version as number, occurrences: plan.occurrences.map((at) => ({ taskId: uuidv7(), scheduledFor: at })), nextRunAt: plan.nextRunAt }], now);
    expect(stale).toMatchObject({ claimed: [], fired: [] });
    expect(await tasksOf(s.id)).toEqual([]);
    const edited = (await schedules().get('edited'))?.nextRunAt as Date;
    expect(edited.getUTCSeconds() % 2).toBe(0);
    const round = await scheduler().runOnce(new Date(edited.getTime() + 100));
    expect(round.fired).toHaveLength(1);
    expect((await app.deps.queue.getTask(round.fired[0]?.id as string))?.args).toEqual(['v2']);
  });

  it.each<[MissedRunPolicy, number]>([
    ['SKIP', 0],
    ['RUN_ONCE', 1],
    ['RUN_ALL', 4],
  ])('after 10 missed minutes, missed %s fires %i task(s), oldest first, and then waits for the next future occurrence', async (missed, count) => {
    const s = await upsert({ key: `down-${missed}`, cron: '* * * * *', missed });
    const now = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 30_000);
    await dueSince(s.id, new Date(now.getTime() - 10 * 60_000 - 30_000)); // 10 occurrences ago
    const { log, lines } = captureLog();
    const round = await scheduler({ catchUpMax: 4, log }).runOnce(now);
    expect(round.fired).toHaveLength(count);
    // The operator's line names the schedule by its key, not only by an id to look up.
    expect(lines.find((l) => l.msg === 'schedule missed occurrences while no scheduler ran')).toMatchObject({ key: s.key, tenant: 'default', missed, firing: count });
    const fired = (await tasksOf(s.id)).map((t) => (t.scheduledFor as Date).getTime());
    const latest = now.getTime() - 30_000;
    expect(fired).toEqual(Array.from({ length: count }, (_, i) => latest - (count - 1 - i) * 60_000));
    expect((await schedules().get(s.key))?.nextRunAt?.getTime()).toBe(latest + 60_000);
  });

  it('with overlap SKIP consumes an occurrence while the last task is RETRYING, and fires again once it ended', async () => {
    const s = await upsert({ key: 'overlap', cron: '* * * * * *', overlap: 'SKIP' });
    const first = s.nextRunAt as Date;
    const r1 = await scheduler().runOnce(new Date(first.getTime() + 100));
    const taskId = r1.fired[0]?.id as string;
    await app.sql`UPDATE tasks SET status = 'RETRYING', attempts = 1, version = version + 1 WHERE id = ${taskId}`;
    const { log, lines } = captureLog();
    const r2 = await scheduler({ log }).runOnce(new Date(first.getTime() + 1_100));
    expect(r2).toMatchObject({ fired: [], claimed: 1, overlapSkipped: 1 });
    // Named, so that an operator with several schedules knows which one skipped.
    expect(lines.filter((l) => l.msg === 'schedule occurrences skipped: previous task unfinished (overlap SKIP)')).toEqual([
      expect.objectContaining({ scheduleId: s.id, tenant: 'default', key: 'overlap', skipped: 1 }),
    ]);
    expect((await schedules().get('overlap'))?.nextRunAt?.getTime()).toBe(first.getTime() + 2_000);
    await app.sql`UPDATE tasks SET status = 'SUCCEEDED', finished_at = now(), version = version + 1 WHERE id = ${taskId}`;
    const r3 = await scheduler().runOnce(new Date(first.getTime() + 2_100));
    expect(r3.fired.map((f) => f.scheduledFor.getTime())).toEqual([first.getTime() + 2_000]);
  });

  it('fires nothing while paused, and resuming does not replay the paused interval', async () => {
    const s = await upsert({ key: 'paused', cron: '* * * * * *' });
    await schedules().pause('paused');
    expect((await scheduler().runOnce(new Date((s.nextRunAt as Date).getTime() + 5_000))).fired).toEqual([]);
    // Paused long ago: next_run_at is far behind.
    await app.sql`UPDATE schedules SET next_run_at = now() - interval '1 hour' WHERE id = ${s.id}`;
    const resumed = await schedules().resume('paused');
    const [row] = await app.sql`SELECT now() AS now`;
    expect(resumed.nextRunAt?.getTime()).toBeGreaterThan(new Date(row?.now as Date).getTime() - 1000);
    const round = await scheduler().runOnce(resumed.nextRunAt as Date);
    expect(round.fired.map((f) => f.scheduledFor.getTime())).toEqual([resumed.nextRunAt?.getTime()]);
  });

  it('takes a schedule whose stored cron no longer parses out of the due set, and fires the others', async () => {
    const good = await upsert({ key: 'good', cron: '* * * * * *' });
    const broken = await upsert({ key: 'broken', cron: '* * * * * *' });
    await app.sql`UPDATE schedules SET cron = 'not a cron', next_run_at = ${good.nextRunAt} WHERE id = ${broken.id}`;
    const round = await scheduler().runOnce(new Date((good.nextRunAt as Date).getTime() + 100));
    expect(round).toMatchObject({ broken: 1, claimed: 2 });
    expect(round.fired.map((f) => f.scheduleId)).toEqual([good.id]);
    expect((await schedules().get('broken'))?.nextRunAt).toBeNull();
    // An upsert with a cron that parses brings it back.
    expect((await upsert({ key: 'broken', cron: '* * * * * *' })).nextRunAt).not.toBeNull();
  });

  it('leaves a deleted schedule’s pending task to run, its scheduleId naming no schedule', async () => {
    const s = await upsert({ key: 'gone', cron: '* * * * * *', task: { name: 'demo.echo', args: ['still here'] } });
    const round = await scheduler().runOnce(new Date((s.nextRunAt as Date).getTime() + 100));
    expect(await schedules().delete('gone')).toBe(true);
    expect(await schedules().delete('gone')).toBe(false);
    await app.startRunner();
    const id = round.fired[0]?.id as string;
    const done = await waitFor(async () => {
      const t = await app.deps.queue.getTask(id);
      return t?.status === 'SUCCEEDED' ? t : undefined;
    }, { message: 'the deleted schedule’s task to succeed' });
    expect(done).toMatchObject({ scheduleId: s.id, returnValue: { args: ['still here'], kwargs: {} } });
  });
});

describe('queue.schedules trigger, upcoming and runs', () => {
  it('triggers a task now, outside the occurrences, and lists runs newest first', async () => {
    const s = await upsert({ key: 'manual', cron: '0 0 1 1 *', timezone: 'America/New_York' });
    const t1 = await schedules().trigger('manual');
    const t2 = await schedules().trigger('manual');
    expect(t1).toMatchObject({ scheduleId: s.id, scheduledFor: null, status: 'PENDING', name: 'demo.echo' });
    expect((await schedules().get('manual'))?.lastTaskId).toBe(t2.id);
    const page = await schedules().runs('manual', { first: 1 });
    expect(page.tasks.map((t) => t.id)).toEqual([t2.id]);
    expect(page.hasNextPage).toBe(true);
    expect(await page.totalCount()).toBe(2);
    const upcoming = await schedules().upcoming('manual', 3);
    expect(upcoming.map((d) => d.toLocaleString('sv-SE', { timeZone: 'America/New_York' }).slice(5))).toEqual(['01-01 00:00:00', '01-01 00:00:00', '01-01 00:00:00']);
    await expect(schedules().upcoming('manual', 101)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'count' });
  });
});

describe('scheduler service', () => {
  it('wakes on an upsert and fires a per-second schedule every second', async () => {
    const svc = scheduler({ pollIntervalMs: 60_000 });
    await svc.start();
    const s = await upsert({ key: 'live', cron: '* * * * * *' });
    const tasks = await waitFor(async () => {
      const t = await tasksOf(s.id);
      return t.length >= 3 ? t : undefined;
    }, { message: 'three occurrences', timeoutMs: 10_000 });
    const seconds = tasks.map((t) => (t.scheduledFor as Date).getTime());
    expect(seconds.slice(1).map((v, i) => v - (seconds[i] as number))).toEqual([1000, 1000]);
  });
});
