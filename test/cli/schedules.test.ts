import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type TaskwireClient } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { runCli } from './run-cli.js';

let server: TestServer;
let client: TaskwireClient;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startTestServer();
  client = createClient({ url: server.url });
  env = { TASKWIRE_URL: server.url };
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

describe('taskwire schedules', () => {
  it('upsert creates with every option, then updates keeping the pause; --json prints the schedule', async () => {
    const created = await runCli(
      ['schedules', 'upsert', 'cli-nightly', '--cron', '0 3 * * *', '--task', 'demo.echo', '--args', '["report"]', '--kwargs', '{"k":1}',
        '--timezone', 'Europe/Paris', '--queue', 'cli-sched', '--concurrency-key', 'acct-7', '--priority', '-5', '--max-attempts', '3', '--overlap', 'skip', '--missed', 'RUN_ALL',
        '--timeout-ms', '90000', '--result-ttl-ms', '86400000', '--backoff', '{"baseMs":30000,"factor":1}', '--json'],
      env,
    );
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      key: 'cli-nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', taskName: 'demo.echo', args: ['report'], kwargs: { k: 1 },
      queue: 'cli-sched', concurrencyKey: 'acct-7', priority: -5, maxAttempts: 3, overlap: 'SKIP', missed: 'RUN_ALL', paused: false,
      timeoutMs: 90_000, resultTtlMs: 86_400_000, backoff: { baseMs: 30_000, factor: 1 },
    });
    const show = (await runCli(['schedules', 'show', 'cli-nightly'], env)).stdout;
    expect(show).toMatch(/^concurrency key: +acct-7$/m);
    expect(show).toMatch(/^attempts: +3, backoff \{"baseMs":30000,"maxMs":\d+,"factor":1,"jitter":[\d.]+\}$/m);
    expect(show).toMatch(/^timeout: +1 min 30 s$/m);
    expect(show).toMatch(/^result ttl: +24 h 0 min$/m);
    // What each occurrence enqueues carries them.
    const fired = (await runCli(['schedules', 'trigger', 'cli-nightly'], env)).stdout.trim();
    expect(await client.get(fired)).toMatchObject({ timeoutMs: 90_000, resultTtlMs: 86_400_000, backoff: { baseMs: 30_000, factor: 1 } });
    await client.pauseSchedule('cli-nightly');
    const updated = await runCli(['schedules', 'upsert', 'cli-nightly', '--cron', '0 4 * * *', '--task', 'demo.echo'], env);
    expect(updated).toMatchObject({ code: 0, stdout: 'cli-nightly paused\n' });
    // The upsert replaced the whole task: without --concurrency-key, no key.
    expect(await client.schedule('cli-nightly')).toMatchObject({ cron: '0 4 * * *', paused: true, concurrencyKey: null, timeoutMs: null, resultTtlMs: null });
  });

  it('list, show, pause, resume, trigger and delete, with the exit codes of each', async () => {
    await client.upsertSchedule({ key: 'cli-every-minute', cron: '* * * * *', task: { name: 'demo.echo', args: ['tick'] } });
    const [list, pause] = await Promise.all([runCli(['schedules', 'list'], env), runCli(['schedules', 'pause', 'cli-every-minute'], env)]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^TENANT +KEY +CRON +TIMEZONE +TASK +STATE +NEXT RUN +LAST RUN +LAST TASK$/m);
    expect(list.stdout).toMatch(/^default +cli-every-minute +\* \* \* \* \* +UTC +demo\.echo /m);
    expect(pause).toMatchObject({ code: 0, stdout: 'cli-every-minute paused\n' });

    const trigger = await runCli(['schedules', 'trigger', 'cli-every-minute'], env);
    expect(trigger.code).toBe(0);
    const id = trigger.stdout.trim();
    expect(await client.get(id)).toMatchObject({ name: 'demo.echo', args: ['tick'] });

    const [show, resume] = await Promise.all([runCli(['schedules', 'show', 'cli-every-minute'], env), runCli(['schedules', 'resume', 'cli-every-minute'], env)]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^cron: +\* \* \* \* \* \(UTC\)$/m);
    expect(show.stdout).toMatch(/^upcoming:$/m);
    expect(show.stdout).toContain(id);
    expect(resume.code).toBe(0);
    expect(resume.stdout).toMatch(/^cli-every-minute resumed, next run \d{4}-\d\d-\d\d \d\d:\d\d:00Z\n$/);

    const [deleted, again, missing] = await Promise.all([
      runCli(['schedules', 'delete', 'cli-every-minute'], env),
      runCli(['schedules', 'show', 'no-such-schedule'], env),
      runCli(['schedules', 'pause', 'no-such-schedule'], env),
    ]);
    expect(deleted).toMatchObject({ code: 0, stdout: 'cli-every-minute deleted\n' });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^taskwire: NOT_FOUND: /);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^taskwire: NOT_FOUND: /);
    expect(await client.schedule('cli-every-minute')).toBeNull();
  });

  // Auth off: the caller sees every tenant, but a bare KEY is its own tenant's ('default').
  it("lists another tenant's schedule with its tenant, and shows, pauses, resumes, triggers and deletes it with --tenant", async () => {
    const made = await runCli(['schedules', 'upsert', 'cleanup-acme', '--cron', '30 2 * * *', '--task', 'demo.echo', '--tenant', 'acme', '--json'], env);
    expect(made.code).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ key: 'cleanup-acme', tenant: 'acme' });
    const list = await runCli(['schedules', 'list'], env);
    expect(list.stdout).toMatch(/^acme +cleanup-acme +30 2 \* \* \* +UTC +demo\.echo +active /m);

    const bare = await runCli(['schedules', 'pause', 'cleanup-acme'], env);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/^taskwire: NOT_FOUND: /);
    expect(await runCli(['schedules', 'pause', 'cleanup-acme', '--tenant', 'acme'], env)).toMatchObject({ code: 0, stdout: 'cleanup-acme paused\n' });
    expect(await client.schedule('cleanup-acme', { tenant: 'acme' })).toMatchObject({ tenant: 'acme', paused: true });
    const show = await runCli(['schedules', 'show', 'cleanup-acme', '--tenant', 'acme'], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^tenant: +acme$/m);
    expect(show.stdout).toMatch(/^state: +paused$/m);
    expect((await runCli(['schedules', 'resume', 'cleanup-acme', '--tenant', 'acme'], env)).code).toBe(0);
    expect((await client.schedule('cleanup-acme', { tenant: 'acme' }))?.paused).toBe(false);

    const trigger = await runCli(['schedules', 'trigger', 'cleanup-acme', '--tenant', 'acme'], env);
    expect(trigger.code).toBe(0);
    expect(await client.get(trigger.stdout.trim())).toMatchObject({ name: 'demo.echo', tenant: 'acme' });

    expect(await runCli(['schedules', 'delete', 'cleanup-acme', '--tenant', 'acme'], env)).toMatchObject({ code: 0, stdout: 'cleanup-acme deleted\n' });
    const gone = await runCli(['schedules', 'delete', 'cleanup-acme', '--tenant', 'acme'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no schedule "cleanup-acme" in tenant "acme"');
    expect(await client.schedule('cleanup-acme', { tenant: 'acme' })).toBeNull();
  });

  it('exits 2 on usage errors and on a cron or time zone the server refuses, storing nothing', async () => {
    const [noCron, badSub, badPolicy, badBackoff, badTimeout, badCron, badZone] = await Promise.all([
      runCli(['schedules', 'upsert', 'x', '--task', 'demo.echo'], env),
      runCli(['schedules', 'frobnicate'], env),
      runCli(['schedules', 'upsert', 'x', '--cron', '* * * * *', '--task', 'demo.echo', '--overlap', 'sometimes'], env),
      runCli(['schedules', 'upsert', 'x', '--cron', '* * * * *', '--task', 'demo.echo', '--backoff', '{"factor":1000}'], env),
      runCli(['schedules', 'upsert', 'x', '--cron', '* * * * *', '--task', 'demo.echo', '--timeout-ms', '0'], env),
      runCli(['schedules', 'upsert', 'x', '--cron', 'at noon', '--task', 'demo.echo'], env),
      runCli(['schedules', 'upsert', 'x', '--cron', '* * * * *', '--task', 'demo.echo', '--timezone', 'Nowhere/Land'], env),
    ]);
    expect(badBackoff.stderr).toContain('--backoff.factor');
    expect(badTimeout.stderr).toContain('--timeout-ms');
    for (const r of [noCron, badSub, badPolicy, badBackoff, badTimeout]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^taskwire schedules: .*\nRun "taskwire schedules --help" for usage\.\n$/);
    }
    expect(badCron.code).toBe(2);
    expect(badCron.stderr).toMatch(/^taskwire: BAD_USER_INPUT: /);
    expect(badZone.code).toBe(2);
    expect(badZone.stderr).toMatch(/^taskwire: BAD_USER_INPUT: /);
    expect(await client.schedule('x')).toBeNull();
  });

  it('--help describes every subcommand', async () => {
    const help = await runCli(['schedules', '--help'], {});
    expect(help.code).toBe(0);
    for (const sub of ['list', 'show KEY', 'upsert KEY', 'pause KEY', 'resume KEY', 'delete KEY', 'trigger KEY', '--cron', '--timezone', '--overlap', '--missed', '--tenant T']) {
      expect(help.stdout).toContain(sub);
    }
  });
});
