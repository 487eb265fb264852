import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Task, type TaskEvent, type TaskwireClient } from '../../src/client/index.js';
import type { Runner } from '../../src/worker/runner.js';
import { FAST_RUNNER, startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';
import { CLOSED_URL, runCli, startCli } from './run-cli.js';

let server: TestServer;
let client: TaskwireClient;
let env: Record<string, string>;
const runners: Runner[] = [];

beforeAll(async () => {
  // The in-process runner takes the default queue only; a test starts its own for another queue.
  server = await startTestServer({ runner: { queues: ['default'] } });
  client = createClient({ url: server.url });
  env = { TASKWIRE_URL: server.url };
});

afterAll(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  await client?.close();
  await server?.close();
});

const inAnHour = (): string => new Date(Date.now() + 3_600_000).toISOString();
const parseTask = (text: string): Task => JSON.parse(text) as Task;

describe('taskwire enqueue', () => {
  it('--wait prints the return value and exits 0 (math.copysign 1 -1 = -1)', async () => {
    const result = await runCli(['enqueue', 'math.copysign', '--args', '[1, -1]', '--wait'], env);
    expect(result).toMatchObject({ code: 0, stdout: '-1\n' });
  });

  it('--wait exits 1 and prints every attempt\'s error when the task fails', async () => {
    const result = await runCli(['enqueue', 'demo.fail', '--args', '["boom"]', '--max-attempts', '2', '--wait'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/FAILED after 2 attempt\(s\)/);
    expect(result.stderr).toContain('attempt 1: DemoFailure: boom');
    expect(result.stderr).toContain('attempt 2: DemoFailure: boom');
  });

  it('reads --args from a file (@path) or stdin (-): arguments past the 128 KiB one command-line argument holds', async () => {
    // 200,000 characters: over Linux's MAX_ARG_STRLEN (128 KiB), under MAX_ARGS_BYTES (256 KiB).
    const big = 'x'.repeat(200_000);
    const dir = await mkdtemp(path.join(tmpdir(), 'taskwire-cli-args-'));
    try {
      await writeFile(path.join(dir, 'args.json'), JSON.stringify([big]));
      const fromFile = await runCli(['enqueue', 'demo.echo', '--args', `@${path.join(dir, 'args.json')}`, '--queue', 'cli-args', '--json'], env);
      expect(fromFile.code, fromFile.stderr).toBe(0);
      expect((await client.get(parseTask(fromFile.stdout).id))?.args).toEqual([big]);
      const fromStdin = await runCli(['enqueue', 'demo.echo', '--args', '-', '--kwargs', '{"k": 1}', '--queue', 'cli-args', '--json'], env, 30_000, { input: JSON.stringify([big, 2]) });
      expect(fromStdin.code, fromStdin.stderr).toBe(0);
      expect(await client.get(parseTask(fromStdin.stdout).id)).toMatchObject({ args: [big, 2], kwargs: { k: 1 } });
      const missing = await runCli(['enqueue', 'demo.echo', '--args', `@${path.join(dir, 'nope.json')}`, '--json'], env);
      expect(missing.code).toBe(2);
      expect(JSON.parse(missing.stderr)).toMatchObject({ error: { code: 'BAD_USAGE', field: '--args', message: expect.stringMatching(/^--args @.*nope\.json: cannot read the file \(ENOENT\)$/) } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses an option given twice rather than keeping the last (exit 2, naming it)', async () => {
    const twice = await runCli(['enqueue', 'demo.echo', '--args', '[1]', '--args=[2]', '--json'], env);
    expect(twice.code).toBe(2);
    expect(JSON.parse(twice.stderr)).toMatchObject({ error: { code: 'BAD_USAGE', field: '--args', message: '--args is given twice: give it once' } });
  });

  it('prints the new id (or the task with --json) and passes every option', async () => {
    const [plain, json] = await Promise.all([
      runCli(['enqueue', 'demo.echo', '--args', '[1]', '--run-after', inAnHour()], env),
      runCli(
        ['enqueue', 'demo.echo', '--args', '["a"]', '--kwargs', '{"k":1}', '--queue', 'cli-opts', '--priority', '-5', '--max-attempts', '3',
          '--run-after', '2030-01-01T09:00:00Z', '--idempotency-key', 'cli-key', '--concurrency-key', 'acme', '--json', '--url', server.url],
        {},
      ),
    ]);
    expect(plain.code).toBe(0);
    expect(await client.get(plain.stdout.trim())).toMatchObject({ name: 'demo.echo', args: [1], status: 'PENDING' });
    expect(json.code).toBe(0);
    expect(parseTask(json.stdout)).toMatchObject({
      args: ['a'], kwargs: { k: 1 }, queue: 'cli-opts', priority: -5, maxAttempts: 3, runAfter: '2030-01-01T09:00:00.000Z', idempotencyKey: 'cli-key',
      concurrencyKey: 'acme', status: 'PENDING', waitReason: 'SCHEDULED',
    });
    // Why it waits and until when, in the human view too.
    const human = await runCli(['status', parseTask(json.stdout).id], env);
    expect(human.stdout).toMatch(/^waiting: +SCHEDULED$/m);
    expect(human.stdout).toMatch(/^runAfter: +2030-01-01 09:00:00Z$/m);
  });
});

describe('taskwire enqueue --timeout-ms, --result-ttl-ms, --backoff', () => {
  it('pass them to the server, where they take effect', async () => {
    const [timed, kept, spaced] = await Promise.all([
      runCli(['enqueue', 'demo.sleep', '--args', '[60000]', '--timeout-ms', '300', '--wait'], env),
      runCli(['enqueue', 'math.copysign', '--args', '[1, -1]', '--result-ttl-ms', '604800000', '--json', '--wait'], env),
      runCli(['enqueue', 'demo.fail', '--args', '["spaced"]', '--max-attempts', '2', '--backoff', '{"baseMs": 30000, "maxMs": 30000, "jitter": 0}', '--json'], env),
    ]);
    // Past its time limit the handler is aborted: a TimeoutError, exit 1.
    expect(timed.code).toBe(1);
    expect(timed.stderr).toContain('TimeoutError: Task exceeded its timeout of 300 ms');
    expect(kept.code).toBe(0);
    const done = parseTask(kept.stdout);
    expect(done.resultTtlMs).toBe(604_800_000);
    expect(Date.parse(done.expiresAt!) - Date.parse(done.finishedAt!)).toBe(604_800_000);
    expect(spaced.code).toBe(0);
    const task = parseTask(spaced.stdout);
    expect(task.backoff).toEqual({ baseMs: 30_000, maxMs: 30_000, factor: 2, jitter: 0 });
    const retrying = await waitFor(async () => {
      const t = await client.get(task.id);
      return t?.status === 'RETRYING' ? t : undefined;
    }, { message: 'the retry to be scheduled' });
    expect(Date.parse(retrying.runAfter!) - Date.parse(retrying.errors[0]!.at)).toBeGreaterThanOrEqual(30_000);
    await client.cancel(task.id);
  });

  it('refuse a bad value naming the flag, before connecting (exit 2)', async () => {
    const cases: [string[], string, string][] = [
      [['--timeout-ms', '0'], '--timeout-ms', '--timeout-ms must be a whole number from 1 to 2147483647, got "0"'],
      [['--timeout-ms', '1.5'], '--timeout-ms', '--timeout-ms must be a whole number'],
      [['--result-ttl-ms', '-1'], '--result-ttl-ms', '--result-ttl-ms must be a whole number from 0 to 31557600000000, got "-1"'],
      [['--backoff', '{"factor": 0.5}'], '--backoff.factor', '--backoff.factor must be a number from 1 to 100, got 0.5'],
      [['--backoff', '{"delay": 5}'], '--backoff.delay', '--backoff.delay is not a backoff setting'],
      [['--backoff', '[1]'], '--backoff', '--backoff must be a JSON object'],
    ];
    const results = await Promise.all(cases.map(([flags]) => runCli(['enqueue', 'demo.echo', ...flags, '--json', '--url', CLOSED_URL])));
    results.forEach((r, i) => {
      const [, field, message] = cases[i]!;
      expect(r.code).toBe(2);
      const { error } = JSON.parse(r.stderr) as { error: { code: string; field?: string; message: string } };
      expect(error).toMatchObject({ code: 'BAD_USAGE', field });
      expect(error.message).toContain(message);
    });
    const human = await runCli(['enqueue', 'demo.echo', '--backoff', '{"jitter": 2}', '--url', CLOSED_URL]);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/^taskwire enqueue: --backoff\.jitter must be a number from 0 to 1, got 2\n/);
  });
});

describe('taskwire status', () => {
  it('--json prints the task; the exit code says whether it failed', async () => {
    const ok = await client.enqueue('math.copysign', [1, -1]);
    const failed = await client.enqueue('demo.fail', ['nope']);
    await Promise.all([client.wait(ok.id), client.wait(failed.id).catch(() => undefined)]);
    const [json, human, missing] = await Promise.all([
      runCli(['status', ok.id, '--json'], env),
      runCli(['status', failed.id], env),
      runCli(['status', '01900000-0000-7000-8000-000000000000'], env),
    ]);
    expect(json.code).toBe(0);
    expect(parseTask(json.stdout)).toMatchObject({ id: ok.id, status: 'SUCCEEDED', returnValue: -1, attempts: 1 });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^status: +FAILED$/m);
    expect(human.stdout).toMatch(/attempt 1: DemoFailure: nope/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^taskwire: NOT_FOUND: /);
  });

  it('--watch prints demo.progress\'s timeline from ENQUEUED, one line per event, then the final state', async () => {
    const task = await client.enqueue('demo.progress', [3, 300], { queue: 'cli-progress' });
    const watch = startCli(['status', task.id, '--watch'], env);
    await watch.waitForStderr(/^v1 +ENQUEUED +PENDING$/m);
    const runner = server.deps.createRunner({ ...FAST_RUNNER, queues: ['cli-progress'] });
    runners.push(runner);
    await runner.start();
    const result = await watch.done;
    expect(result.code).toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines.map((l) => l.split(/ +/).slice(0, 3))).toEqual([
      ['v1', 'ENQUEUED', 'PENDING'],
      ['v2', 'STARTED', 'RUNNING'],
      ['v3', 'PROGRESS', 'RUNNING'],
      ['v4', 'PROGRESS', 'RUNNING'],
      ['v5', 'PROGRESS', 'RUNNING'],
      ['v6', 'SUCCEEDED', 'SUCCEEDED'],
    ]);
    expect(lines[1]).toMatch(new RegExp(`^v2 +STARTED +RUNNING +attempt 1 +worker ${runner.workerId}$`));
    expect(lines[2]).toMatch(/attempt 1 +worker \S+ +progress 1\/3 \(33%\) step 1 of 3$/);
    expect(result.stdout).toMatch(/^status: +SUCCEEDED$/m);
    expect(result.stdout).toMatch(/^returnValue: +\{"steps":3\}$/m);
  });

  it('--watch shows each attempt\'s error and exits 1 when the task fails', async () => {
    const task = await client.enqueue('demo.fail', ['watched'], { maxAttempts: 2 });
    const result = await runCli(['status', task.id, '--watch'], env);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines.map((l) => l.split(/ +/)[1])).toEqual(['ENQUEUED', 'STARTED', 'RETRY_SCHEDULED', 'STARTED', 'FAILED']);
    expect(lines[2]).toMatch(/^v3 +RETRY_SCHEDULED +RETRYING +attempt 1 +worker \S+ +DemoFailure: watched$/);
    expect(lines[4]).toMatch(/^v5 +FAILED +FAILED +attempt 2 +worker \S+ +DemoFailure: watched$/);
    expect(result.stdout).toMatch(/^status: +FAILED$/m);
  });

  it('--watch stops on Ctrl-C with exit code 130', async () => {
    const task = await client.enqueue('demo.echo', [], { queue: 'cli-unclaimed' });
    const watch = startCli(['status', task.id, '--watch'], env);
    await watch.waitForStderr(/ENQUEUED/);
    watch.child.kill('SIGINT');
    const result = await watch.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toBe('v1        ENQUEUED          PENDING\n');
  });

  it('--watch into a reader that goes away (| head -1) stops quietly with 141, as SIGPIPE would, not a stack trace and 1', async () => {
    const task = await client.enqueue('demo.progress', [40, 50]);
    const watch = startCli(['status', task.id, '--watch', '--json'], env);
    // The reader takes the first line and goes: the next write finds the pipe closed (EPIPE).
    await waitFor(() => watch.stdout.includes('\n') || watch.child.exitCode !== null, { message: 'the first line' });
    watch.child.stdout!.destroy();
    const result = await watch.done;
    expect(result.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(result.code).toBe(141);
  });

  it('enqueue --wait stopped by Ctrl-C (130) names the task that goes on, as a line or as JSON', async () => {
    for (const json of [false, true]) {
      const queue = `cli-interrupted-${json}`;
      // No other watch open: the one subscription counted below is the wait's.
      await waitFor(() => server.app.logStats.subscriptions === 0, { message: 'earlier watches ended' });
      const run = startCli(['enqueue', 'demo.echo', '--queue', queue, '--wait', ...(json ? ['--json'] : [])], env);
      // Enqueued (its queue has no worker) and waiting on its events.
      const id = await waitFor(async () => {
        for await (const page of client.list({ queue }, { limit: 1 })) return page.tasks[0]?.id;
        return undefined;
      }, { message: 'the task enqueued' });
      await waitFor(() => server.app.logStats.subscriptions === 1, { message: 'the wait subscribed' });
      run.child.kill('SIGINT');
      const result = await run.done;
      expect(result.code).toBe(130);
      expect(result.stdout).toBe('');
      const message = `interrupted; task ${id} goes on (taskwire status ${id}; taskwire cancel ${id})`;
      const last = result.stderr.trim().split('\n').at(-1);
      expect(json ? JSON.parse(last ?? '') : last).toEqual(json ? { error: { code: 'INTERRUPTED', message, field: null } } : `taskwire: ${message}`);
      await client.cancel(id!);
    }
  });

  it('--watch --json prints every event of a 1 ms task as a JSON line, claimed ahead or not', async () => {
    const task = await client.enqueue('math.copysign', [3, -2]);
    const result = await runCli(['status', task.id, '--watch', '--json'], env);
    expect(result.code).toBe(0);
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as TaskEvent);
    expect(events.map((e) => [e.taskId, e.version, e.type, e.status])).toEqual([
      [task.id, 1, 'ENQUEUED', 'PENDING'],
      [task.id, 2, 'STARTED', 'RUNNING'],
      [task.id, 3, 'SUCCEEDED', 'SUCCEEDED'],
    ]);
    expect(result.stderr).toBe('');
  });
});

describe('taskwire tasks, cancel, retry, stats', () => {
  it('tasks prints a table, newest first, honouring filters and --limit', async () => {
    const ids: string[] = [];
    for (const i of [1, 2, 3]) ids.push((await client.enqueue('demo.echo', [i], { queue: 'cli-table', runAfter: inAnHour() })).id);
    const [table, json, badStatus] = await Promise.all([
      runCli(['tasks', '--queue', 'cli-table', '--limit', '2'], env),
      runCli(['tasks', '--queue', 'cli-table', '--status', 'pending', '--name', 'demo.echo', '--json'], env),
      runCli(['tasks', '--status', 'DONE'], env),
    ]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +QUEUE +STATUS +ATTEMPTS +ENQUEUED +DURATION$/);
    expect(lines.slice(1, 3).map((l) => l.split(/ +/)[0])).toEqual([ids[2], ids[1]]);
    expect(lines[1]).toMatch(/demo\.echo +cli-table +PENDING +0\/1 /);
    // Only the table on stdout: a script reading ids reads no "of" or "no" as one.
    expect(lines).toHaveLength(3);
    const next = /^2 of 3 tasks; the next ones: --after (\S+)\n$/.exec(table.stderr)?.[1];
    expect(next, table.stderr).toBeDefined();
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as Task[]).map((t) => t.id)).toEqual([...ids].reverse());
    expect(json.stderr).toBe('');
    // The next page, from the cursor stderr named; as JSON, the cursor of the page after it.
    const [rest, firstJson] = await Promise.all([
      runCli(['tasks', '--queue', 'cli-table', '--limit', '2', '--after', next as string], env),
      runCli(['tasks', '--queue', 'cli-table', '--limit', '1', '--json'], env),
    ]);
    expect(rest.stdout.trim().split('\n').slice(1).map((l) => l.split(/ +/)[0])).toEqual([ids[0]]);
    expect(rest.stderr).toBe('1 more of 3 tasks\n');
    const jsonNext = /^more tasks: --after (\S+)\n$/.exec(firstJson.stderr)?.[1];
    expect((JSON.parse(firstJson.stdout) as Task[]).map((t) => t.id)).toEqual([ids[2]]);
    const secondJson = await runCli(['tasks', '--queue', 'cli-table', '--limit', '5', '--json', '--after', jsonNext as string], env);
    expect((JSON.parse(secondJson.stdout) as Task[]).map((t) => t.id)).toEqual([ids[1], ids[0]]);
    expect(secondJson.stderr).toBe('');
    const badCursor = await runCli(['tasks', '--after', 'nonsense'], env);
    expect(badCursor).toMatchObject({ code: 2, stderr: 'taskwire: BAD_USER_INPUT: after is not a cursor from this API\n' });
    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toMatch(/unknown status "DONE"/);
  });

  it('cancel and retry report the new state; what the state machine refuses exits 1', async () => {
    const task = await client.enqueue('demo.echo', [], { queue: 'cli-cancel', runAfter: inAnHour() });
    const cancelled = await runCli(['cancel', task.id], env);
    expect(cancelled).toMatchObject({ code: 0, stdout: `${task.id} CANCELLED\n` });
    const [retried, again] = [await runCli(['retry', task.id, '--json'], env), await runCli(['retry', task.id], env)];
    expect(retried.code).toBe(0);
    expect(parseTask(retried.stdout)).toMatchObject({ id: task.id, status: 'PENDING' });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^taskwire: CONFLICT: /);
  });

  it('run-now makes a delayed task due now; a finished one exits 1', async () => {
    const task = await client.enqueue('demo.echo', [], { queue: 'cli-run-now', runAfter: inAnHour() });
    const [shown, json] = [await runCli(['run-now', task.id], env), await runCli(['run-now', task.id, '--json'], env)];
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^${task.id} PENDING \\(due \\d{4}-\\d\\d-\\d\\dT[^)]+\\)\n$`));
    // The second call finds it due already: the same task, no new version.
    expect(parseTask(json.stdout)).toMatchObject({ id: task.id, status: 'PENDING', version: 2 });
    await client.cancel(task.id);
    const refused = await runCli(['run-now', task.id], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^taskwire: CONFLICT: Task \S+ is CANCELLED/);
  });

  it('stats prints the counts per queue', async () => {
    await client.enqueue('demo.echo', [], { queue: 'cli-stats', runAfter: inAnHour() });
    const [table, json] = await Promise.all([runCli(['stats'], env), runCli(['stats', '--json'], env)]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^QUEUE +BLOCKED +PENDING +RUNNING +RETRYING +SUCCEEDED +FAILED +CANCELLED +TOTAL +OLDEST DUE$/);
    expect(table.stdout).toMatch(/^cli-stats +0 +1 +0 +0 +0 +0 +0 +1 +- *$/m);
    expect((JSON.parse(json.stdout) as { queue: string; pending: number }[]).find((q) => q.queue === 'cli-stats')).toMatchObject({ pending: 1 });
  });
});

describe('usage, errors and exit codes', () => {
  it('--help works on every command', async () => {
    const commands = ['enqueue', 'status', 'logs', 'feed', 'tasks', 'cancel', 'retry', 'stats', 'dev', 'serve', 'worker', 'migrate'];
    const results = await Promise.all([runCli(['--help']), ...commands.map((c) => runCli([c, '--help']))]);
    expect(results[0]).toMatchObject({ code: 0, stderr: '' });
    for (const c of commands) expect(results[0]!.stdout).toContain(`  ${c} `);
    results.slice(1).forEach((r, i) => {
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^Usage: taskwire ${commands[i]}\\b`));
    });
  });

  it('exits 2 on bad JSON, an unknown flag, a missing argument, or an unknown task name; never with a stack trace', async () => {
    const results = await Promise.all([
      runCli(['enqueue', 'math.copysign', '--args', '[1,'], env),
      runCli(['enqueue', 'math.copysign', '--args', '{"x":1}'], env),
      runCli(['status', 'x', '--bogus'], env),
      runCli(['status'], env),
      runCli(['enqueue', 'no.such.task'], env),
      runCli(['stats'], { TASKWIRE_URL: 'ftp://example.com' }),
      runCli(['frobnicate']),
      // A server's message and the user's own input are shown with control characters escaped (C1 CSI
      // here, which JSON.stringify in the server's message would leave as it is).
      runCli(['enqueue', 'no.such\u009b2J.task'], env),
      runCli(['frobnicate\u001b[7m']),
    ]);
    for (const r of results) {
      expect(r.code).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const [badJson, notArray, unknownFlag, missing, unknownTask, badUrl, unknownCommand, hostileTask, hostileCommand] = results.map((r) => r.stderr);
    expect(badJson).toMatch(/^taskwire enqueue: --args is not valid JSON/);
    expect(notArray).toMatch(/^taskwire enqueue: --args must be a JSON array/);
    expect(unknownFlag).toMatch(/^taskwire status: Unknown option '--bogus'/);
    expect(missing).toMatch(/^taskwire status: missing ID/);
    expect(unknownTask).toBe('taskwire: UNKNOWN_TASK: Unknown task name "no.such.task"\n');
    expect(badUrl).toMatch(/TASKWIRE_URL="ftp:\/\/example.com": must be an http/);
    expect(unknownCommand).toMatch(/^taskwire: unknown command "frobnicate"/);
    expect(hostileTask).toBe('taskwire: UNKNOWN_TASK: Unknown task name "no.such\\u009b2J.task"\n');
    expect(hostileCommand).toMatch(/^taskwire: unknown command "frobnicate\\u001b\[7m"/);
  });

  it('--run-after refuses a day or time that does not exist, as the server does, before connecting (exit 2)', async () => {
    // Date.parse took these (2030-02-31 rolled over to March 3), so the CLI went on to the server.
    const refused = ['2030-02-31T00:00:00Z', '2100-02-29T00:00:00Z', '2030-04-31T09:00:00+02:00', '2030-01-01T24:00:00Z', '2030-12-31T23:59:60Z', '2030-01-01'];
    const results = await Promise.all(refused.map((at) => runCli(['enqueue', 'demo.echo', '--run-after', at, '--url', CLOSED_URL])));
    results.forEach((r, i) => {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^taskwire enqueue: --run-after must be an ISO-8601 time with a zone, of a day and time that exist, .*got "${refused[i]!.replace(/[+]/g, '\\+')}"`));
    });
    // The written date is checked, not the UTC one: this is February 28 in UTC, and Feb 29 2028 exists.
    const taken = await Promise.all(
      ['2030-03-01T00:30:00+01:00', '2028-02-29T12:00:00Z'].map((at) => runCli(['enqueue', 'demo.echo', '--args', '[1]', '--run-after', at, '--json', '--url', server.url])),
    );
    expect(taken.map((r) => [r.code, r.stderr])).toEqual([[0, ''], [0, '']]);
    expect(taken.map((r) => parseTask(r.stdout).runAfter)).toEqual(['2030-02-28T23:30:00.000Z', '2028-02-29T12:00:00.000Z']);
  });

  it('exits 3 when the server cannot be reached', async () => {
    const [stats, enqueue] = await Promise.all([
      runCli(['stats', '--url', CLOSED_URL]),
      runCli(['enqueue', 'demo.echo', '--wait'], { TASKWIRE_URL: CLOSED_URL }),
    ]);
    for (const r of [stats, enqueue]) {
      expect(r.code).toBe(3);
      expect(r.stderr.split('\n')[0]).toBe(`taskwire: CONNECTION_FAILED: Cannot reach ${CLOSED_URL} (ECONNREFUSED)`);
    }
  });
});

describe('--json errors', () => {
  /** stderr as --json writes an error: exactly one line, one JSON object `{"error": {code, message, field}}`. */
  const errorOf = (stderr: string): { code: string; message: string; field: string | null } => {
    const lines = stderr.split('\n').filter(Boolean);
    expect(lines, stderr).toHaveLength(1);
    const parsed = JSON.parse(lines[0] as string) as { error: { code: string; message: string; field: string | null } };
    expect(Object.keys(parsed)).toEqual(['error']);
    expect(Object.keys(parsed.error)).toEqual(['code', 'message', 'field']);
    return parsed.error;
  };

  it('reports each kind of error as one JSON object on stderr, with the exit code it has without --json', async () => {
    const missing = '01900000-0000-7000-8000-000000000000';
    const cases: { args: string[]; env?: Record<string, string>; code: number; error: { code: string; field: string | null; message?: RegExp } }[] = [
      { args: ['enqueue', 'no.such.task', '--json'], code: 2, error: { code: 'UNKNOWN_TASK', field: 'input.name', message: /^Unknown task name "no.such.task"$/ } },
      { args: ['enqueue', 'math.copysign', '--args', '[1, "a"]', '--json'], code: 2, error: { code: 'INVALID_ARGUMENTS', field: 'input.args[1]' } },
      { args: ['enqueue', 'math.copysign', '--args', '[1,', '--json'], code: 2, error: { code: 'BAD_USAGE', field: '--args', message: /^--args is not valid JSON/ } },
      { args: ['enqueue', 'demo.echo', '--run-after', '2030-02-31T00:00:00Z', '--json'], code: 2, error: { code: 'BAD_USAGE', field: '--run-after' } },
      { args: ['status', 'x', '--bogus', '--json'], code: 2, error: { code: 'BAD_USAGE', field: '--bogus', message: /^Unknown option '--bogus'/ } },
      { args: ['tasks', '--status', 'done', '--json'], code: 2, error: { code: 'BAD_USAGE', field: '--status', message: /^--status: unknown status "DONE"/ } },
      { args: ['queues', 'limits', 'q', '--rate', '10/abc', '--json'], code: 2, error: { code: 'BAD_USAGE', field: '--rate', message: /^--rate must be MAX\/MS/ } },
      { args: ['frobnicate', '--json'], code: 2, error: { code: 'BAD_USAGE', field: null, message: /^unknown command "frobnicate"$/ } },
      // --json before the command counts as after it (it was taken for the command: 'unknown command "--json"', as text).
      { args: ['--json', 'frobnicate'], code: 2, error: { code: 'BAD_USAGE', field: null, message: /^unknown command "frobnicate"$/ } },
      { args: ['--json', 'tasks', '--status', 'done'], code: 2, error: { code: 'BAD_USAGE', field: '--status' } },
      { args: ['stats', '--json'], env: { TASKWIRE_URL: 'ftp://example.com' }, code: 2, error: { code: 'CONFIG_INVALID', field: 'TASKWIRE_URL' } },
      // A URL with a password: fetch refuses it at every request, so it is the configuration's fault (it was exit 3, the password printed).
      { args: ['stats', '--json'], env: { TASKWIRE_URL: 'http://ci:hunter2@127.0.0.1:4000/graphql' }, code: 2, error: { code: 'CONFIG_INVALID', field: 'TASKWIRE_URL', message: /"http:\/\/ci:\*\*\*@127\.0\.0\.1:4000\/graphql": must not carry a user or password/ } },
      { args: ['stats', '--json', '--url', 'http://ci:hunter2@127.0.0.1:4000/graphql'], code: 2, error: { code: 'BAD_USAGE', field: '--url', message: /^--url must not carry a user or password .*"http:\/\/ci:\*\*\*@127/ } },
      // A process command too: its configuration is read before it opens anything.
      { args: ['doctor', '--json'], env: { PORT: 'not-a-port' }, code: 2, error: { code: 'CONFIG_INVALID', field: 'PORT' } },
      { args: ['status', missing, '--json'], code: 1, error: { code: 'NOT_FOUND', field: 'id', message: new RegExp(`^Task "${missing}" was not found$`) } },
      { args: ['stats', '--json', '--url', CLOSED_URL], env: {}, code: 3, error: { code: 'CONNECTION_FAILED', field: null } },
    ];
    const results = await Promise.all(cases.map((c) => runCli(c.args, c.env ?? env)));
    results.forEach((r, i) => {
      const c = cases[i]!;
      expect(r.code, `${c.args.join(' ')}: ${r.stderr}`).toBe(c.code);
      expect(r.stderr).not.toContain('hunter2');
      expect(r.stdout).toBe('');
      const error = errorOf(r.stderr);
      expect({ code: error.code, field: error.field }).toEqual({ code: c.error.code, field: c.error.field });
      if (c.error.message) expect(error.message).toMatch(c.error.message);
    });
  });

  it('enqueue --wait --json: the final task on stdout, TASK_FAILED as JSON on stderr, exit 1', async () => {
    const result = await runCli(['enqueue', 'demo.fail', '--args', '["boom"]', '--wait', '--json'], env);
    expect(result.code).toBe(1);
    expect(parseTask(result.stdout)).toMatchObject({ name: 'demo.fail', status: 'FAILED' });
    const error = errorOf(result.stderr);
    expect(error.code).toBe('TASK_FAILED');
    expect(error.message).toMatch(/DemoFailure: boom$/);
  });
});
