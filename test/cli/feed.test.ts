import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type TaskEvent, type TaskwireClient } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { waitFor } from '../helpers/wait.js';
import { runCli, startCli } from './run-cli.js';

let server: TestServer;
let client: TaskwireClient;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startTestServer({ runner: {} });
  client = createClient({ url: server.url });
  env = { TASKWIRE_URL: server.url };
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

const jsonLines = (text: string): TaskEvent[] => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TaskEvent);
/** The cursor stderr said to go on with. */
const goOnWith = (stderr: string): string => /go on with: --after (\S+)\n$/.exec(stderr)?.[1] ?? `no cursor in ${JSON.stringify(stderr)}`;

describe('taskwire feed', () => {
  it('prints the events after --after, stops at --limit, and says where to go on: the next run starts exactly there', async () => {
    const queue = 'cli-feed';
    const from = await client.feedCursor();
    const first = await client.enqueue('math.copysign', [1, -1], { queue });
    await client.wait(first.id, { timeoutMs: 10_000 });
    await client.enqueue('math.copysign', [1, 1], { queue: 'cli-feed-other' });
    const second = await client.enqueue('math.copysign', [2, -1], { queue });
    await client.wait(second.id, { timeoutMs: 10_000 });

    const run1 = await runCli(['feed', '--queue', queue, '--after', from, '--limit', '4', '--json'], env);
    expect(run1.code, run1.stderr).toBe(0);
    const events = jsonLines(run1.stdout);
    expect(events.map((e) => [e.taskId, e.version, e.type])).toEqual([
      [first.id, 1, 'ENQUEUED'],
      [first.id, 2, 'STARTED'],
      [first.id, 3, 'SUCCEEDED'],
      [second.id, 1, 'ENQUEUED'],
    ]);
    expect(run1.stderr).toBe(`4 events; go on with: --after ${events[3]!.cursor}\n`);

    const run2 = await runCli(['feed', '--queue', queue, '--after', goOnWith(run1.stderr), '--limit', '2', '--with-task'], env);
    expect(run2.code, run2.stderr).toBe(0);
    const lines = run2.stdout.trim().split('\n').map((l) => l.split(/ +/));
    // when, task id, name (--with-task), version, type, status, …
    expect(lines.map((l) => l.slice(1, 6))).toEqual([
      [second.id, 'math.copysign', 'v2', 'STARTED', 'RUNNING'],
      [second.id, 'math.copysign', 'v3', 'SUCCEEDED', 'SUCCEEDED'],
    ]);
    expect(Number.isNaN(Date.parse(lines[0]![0]!))).toBe(false);
  });

  it.each([
    ['Ctrl-C', 'SIGINT', 130],
    ['SIGTERM', 'SIGTERM', 143],
  ] as const)('from now, live; %s stops it with %s\'s exit code and the cursor of the last event printed', async (_, signal, code) => {
    const queue = `cli-feed-${signal}`;
    // The feed before this one gone (the server counts it a moment after its process ends).
    await waitFor(() => server.app.logStats.subscriptions === 0, { message: 'earlier feeds to end' });
    const feed = startCli(['feed', '--queue', queue, '--json'], env);
    await waitFor(() => server.app.logStats.subscriptions === 1, { message: 'the feed to subscribe' });
    const task = await client.enqueue('math.copysign', [3, -1], { queue });
    await waitFor(() => jsonLines(feed.stdout).some((e) => e.type === 'SUCCEEDED'), { message: 'the task on the feed' });
    feed.child.kill(signal);
    const result = await feed.done;
    expect(result.code).toBe(code);
    const events = jsonLines(result.stdout);
    expect(events.map((e) => [e.taskId, e.version])).toEqual([
      [task.id, 1],
      [task.id, 2],
      [task.id, 3],
    ]);
    expect(result.stderr).toBe(`3 events; go on with: --after ${events[2]!.cursor}\n`);
  });

  it('--timeout with nothing to print ends with 0 and the position it started from, which misses nothing after it', async () => {
    const queue = 'cli-feed-quiet';
    const result = await runCli(['feed', '--queue', queue, '--timeout', '0.2'], env);
    expect(result).toMatchObject({ code: 0, stdout: '' });
    expect(result.stderr).toMatch(/^0 events; go on with: --after \S+\n$/);
    const task = await client.enqueue('math.copysign', [4, -1], { queue });
    const next = await runCli(['feed', '--queue', queue, '--after', goOnWith(result.stderr), '--limit', '1', '--json'], env);
    expect(jsonLines(next.stdout).map((e) => [e.taskId, e.version])).toEqual([[task.id, 1]]);
  });

  it('refuses a bad filter or cursor with exit 2, naming it', async () => {
    const [status, cursor, limit] = await Promise.all([
      runCli(['feed', '--status', 'DONE'], env),
      runCli(['feed', '--after', 'not-a-cursor'], env),
      runCli(['feed', '--limit', '0'], env),
    ]);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('--status: unknown status "DONE"');
    expect(cursor.code).toBe(2);
    expect(cursor.stderr).toMatch(/^taskwire: BAD_USER_INPUT: .*after/);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit');
  });
});
