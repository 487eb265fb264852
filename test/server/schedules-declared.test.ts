import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { createDeclaredScheduleSync, syncDeclaredSchedules } from '../../src/worker/declared-schedules.js';
import { defineTask } from '../../src/worker/define-task.js';
import { createRegistry } from '../../src/worker/registry.js';
import { useTestServer } from '../helpers/app.js';

// Schedules declared beside a task definition (defineTask's `schedule`), synced by workers at
// start: what the code says wins, except a pause made at run time over the API.
const report = defineTask({ name: 'reports.daily', run: () => 'done', queue: 'reports', schedule: { cron: '0 6 * * *', timezone: 'Europe/Berlin', args: [1] } });
const cleanup = defineTask({
  name: 'reports.cleanup',
  run: () => 'cleaned',
  schedule: [
    { key: 'cleanup-hourly', cron: '0 * * * *', overlap: 'SKIP' },
    { key: 'cleanup-globex', cron: '30 * * * *', tenant: 'globex', missed: 'SKIP' },
  ],
});
const env = useTestServer({ tasks: [report, cleanup] });

const SCHEDULE = '{ key cron timezone taskName args queue overlap missed paused version }';
async function schedule(key: string): Promise<Record<string, unknown> | null> {
  const res = await env.server.post({ query: `query($key: String!) { schedule(key: $key) ${SCHEDULE} }`, variables: { key } });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return (res.data as { schedule: Record<string, unknown> | null }).schedule;
}

describe('defineTask({ schedule })', () => {
  it('fills the defaults: the task name as key, UTC, ALLOW, RUN_ONCE, the definition\'s queue', () => {
    const def = defineTask({ name: 'x.y', queue: 'q', run: () => 1, schedule: { cron: '* * * * *' } });
    expect(def.schedules).toEqual([
      {
        key: 'x.y', tenant: 'default', cron: '* * * * *', timezone: 'UTC', taskName: 'x.y', args: [], kwargs: {}, queue: 'q',
        priority: undefined, maxAttempts: undefined, concurrencyKey: undefined, overlap: 'ALLOW', missed: 'RUN_ONCE',
      },
    ]);
    expect(defineTask({ name: 'no.schedule', run: () => 1 }).schedules).toEqual([]);
  });

  it('refuses, where it is written, a declaration without a cron, several without keys, or two with one key', () => {
    expect(() => defineTask({ name: 'a', run: () => 1, schedule: { cron: '' } })).toThrow(/a: schedule\.cron/);
    expect(() => defineTask({ name: 'b', run: () => 1, schedule: [{ cron: '* * * * *' }, { key: 'k', cron: '* * * * *' }] })).toThrow(/key is required/);
    expect(() => defineTask({ name: 'c', run: () => 1, schedule: [{ key: 'k', cron: '* * * * *' }, { key: 'k', cron: '0 * * * *' }] })).toThrow(/two schedules have the key "k"/);
  });

  it('refuses them as a ConfigError naming the task and the declaration\'s field: a process loading it stops (exit 2)', () => {
    const refusal = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (error) {
        return error;
      }
      return 'no error';
    };
    const keyless = refusal(() => defineTask({ name: 'two.keyless', run: () => 1, schedule: [{ cron: '* * * * *' }, { cron: '0 * * * *' }] }));
    expect(keyless).toBeInstanceOf(ConfigError);
    expect(keyless).toMatchObject({
      code: 'CONFIG_INVALID',
      field: 'schedule[0].key',
      message: 'task two.keyless: schedule[0].key is required when a task declares several schedules (each is stored under its key)',
    });
    expect(refusal(() => defineTask({ name: 'no.cron', run: () => 1, schedule: { cron: ' ' } }))).toMatchObject({ code: 'CONFIG_INVALID', field: 'schedule.cron' });
  });
});

describe('syncDeclaredSchedules', () => {
  it('creates every declared schedule in its tenant, then writes nothing while the code is unchanged', async () => {
    const queue = env.server.deps.queue;
    const first = await syncDeclaredSchedules(queue, [report, cleanup]);
    expect(first).toEqual({ created: ['reports.daily', 'cleanup-hourly', 'globex/cleanup-globex'], updated: [], unchanged: [] });
    expect(await schedule('reports.daily')).toMatchObject({ cron: '0 6 * * *', timezone: 'Europe/Berlin', taskName: 'reports.daily', args: [1], queue: 'reports', overlap: 'ALLOW', missed: 'RUN_ONCE', paused: false });
    expect(await schedule('cleanup-hourly')).toMatchObject({ overlap: 'SKIP', taskName: 'reports.cleanup' });
    // globex's is not in the default tenant (the one an auth-off server shows)…
    expect(await schedule('cleanup-globex')).toBeNull();
    // …but in globex's.
    const globex = queue.scoped({ readTenant: 'globex', writeTenant: 'globex', createdBy: null });
    expect(await globex.schedules.get('cleanup-globex')).toMatchObject({ tenant: 'globex', missed: 'SKIP' });

    const version = (await schedule('reports.daily'))?.version;
    // Five workers starting at once: all find it as declared.
    const again = await Promise.all(Array.from({ length: 5 }, () => syncDeclaredSchedules(queue, [report, cleanup])));
    for (const r of again) expect(r).toEqual({ created: [], updated: [], unchanged: ['reports.daily', 'cleanup-hourly', 'globex/cleanup-globex'] });
    expect((await schedule('reports.daily'))?.version).toBe(version);
  });

  it('a time zone declared in another case is stored as the database spells it, and the next sync writes nothing', async () => {
    const queue = env.server.deps.queue;
    const lower = defineTask({ name: 'reports.daily', run: () => 'done', queue: 'reports', schedule: { key: 'reports.lower', cron: '0 6 * * *', timezone: 'europe/berlin' } });
    expect(await syncDeclaredSchedules(queue, [lower])).toEqual({ created: ['reports.lower'], updated: [], unchanged: [] });
    expect(await schedule('reports.lower')).toMatchObject({ timezone: 'Europe/Berlin' });
    expect(await syncDeclaredSchedules(queue, [lower])).toEqual({ created: [], updated: [], unchanged: ['reports.lower'] });
  });

  it('a deploy that changes the declaration updates it but keeps a pause made over the API', async () => {
    const queue = env.server.deps.queue;
    await syncDeclaredSchedules(queue, [report]);
    const paused = await env.server.post({ query: 'mutation { pauseSchedule(key: "reports.daily") { paused } }' });
    expect(paused.data).toEqual({ pauseSchedule: { paused: true } });

    // The same task, its schedule edited in code (as a new deploy would load it).
    const edited = defineTask({ name: 'reports.daily', run: () => 'done', queue: 'reports', schedule: { cron: '0 7 * * 1-5', timezone: 'Europe/Berlin', args: [2], missed: 'SKIP' } });
    expect(await syncDeclaredSchedules(queue, [edited])).toEqual({ created: [], updated: ['reports.daily'], unchanged: [] });
    expect(await schedule('reports.daily')).toMatchObject({ cron: '0 7 * * 1-5', args: [2], missed: 'SKIP', paused: true });

    // A worker's start (the service process.ts runs before the runner) does the same.
    await createDeclaredScheduleSync({ queue, registry: createRegistry([report]), log: silentLogger }).start();
    expect(await schedule('reports.daily')).toMatchObject({ cron: '0 6 * * *', args: [1], missed: 'RUN_ONCE', paused: true });
  });

  it('leaves a schedule no longer declared as it is, and names a bad cron in code', async () => {
    const queue = env.server.deps.queue;
    await syncDeclaredSchedules(queue, [cleanup]);
    const withoutSchedules = defineTask({ name: 'reports.cleanup', run: () => 'cleaned' });
    expect(await syncDeclaredSchedules(queue, [withoutSchedules])).toEqual({ created: [], updated: [], unchanged: [] });
    expect(await schedule('cleanup-hourly')).toMatchObject({ cron: '0 * * * *' });

    const broken = defineTask({ name: 'reports.cleanup', run: () => 1, schedule: { key: 'broken', cron: 'at noon' } });
    await expect(syncDeclaredSchedules(queue, [broken])).rejects.toThrow(/Schedule "broken" declared by task reports\.cleanup/);
    expect(await schedule('broken')).toBeNull();
  });

  it('refuses a declaration the core refuses as a ConfigError naming the schedule, the task and the field', async () => {
    const queue = env.server.deps.queue;
    const mars = defineTask({ name: 'bad.sched', run: () => 1, schedule: { cron: '0 3 * * *', timezone: 'Mars/Olympus' } });
    const error = await syncDeclaredSchedules(queue, [mars]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'schedule.timezone', cause: { code: 'BAD_USER_INPUT', field: 'timezone' } });
    expect((error as Error).message).toBe(
      'Schedule "bad.sched" declared by task bad.sched: timezone must be an IANA time zone such as "Europe/Paris", got "Mars/Olympus"',
    );
    expect(await schedule('bad.sched')).toBeNull();
  });

  it('carries a declared concurrencyKey to the schedule, and a deploy without it clears it', async () => {
    const queue = env.server.deps.queue;
    const keyed = defineTask({ name: 'reports.daily', run: () => 'done', schedule: { key: 'per-account', cron: '0 * * * *', concurrencyKey: 'acme' } });
    expect(await syncDeclaredSchedules(queue, [keyed])).toMatchObject({ created: ['per-account'] });
    expect(await syncDeclaredSchedules(queue, [keyed])).toMatchObject({ unchanged: ['per-account'] });
    expect(await queue.schedules.get('per-account')).toMatchObject({ concurrencyKey: 'acme' });
    const keyless = defineTask({ name: 'reports.daily', run: () => 'done', schedule: { key: 'per-account', cron: '0 * * * *' } });
    expect(await syncDeclaredSchedules(queue, [keyless])).toMatchObject({ updated: ['per-account'] });
    expect(await queue.schedules.get('per-account')).toMatchObject({ concurrencyKey: null });
  });
});
