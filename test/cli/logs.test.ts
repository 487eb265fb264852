import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type TaskEvent, type TaskwireClient } from '../../src/client/index.js';
import { defineTask } from '../../src/worker/define-task.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { waitFor } from '../helpers/wait.js';
import { CLOSED_URL, runCli, startCli } from './run-cli.js';

let server: TestServer;
let client: TaskwireClient;
let env: Record<string, string>;

const gates = new Map<string, { opened: Promise<void>; open(): void }>();
/** The gate `key`: handlers wait on `opened` until the test calls `open()`. */
function gate(key: string): { opened: Promise<void>; open(): void } {
  let entry = gates.get(key);
  if (!entry) {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    entry = { opened, open };
    gates.set(key, entry);
  }
  return entry;
}

/**
 * test.talk(key): writes "hello ", "world\n" and {n: attempt}, then waits for the gate `key`; its
 * first attempt then fails (so a retry writes the same again), a later one returns.
 */
const talk = defineTask({
  name: 'test.talk',
  args: z.tuple([z.string()]),
  run: async ([key], ctx) => {
    await ctx.output('hello ');
    await ctx.output('world\n');
    await ctx.output({ n: ctx.attempt });
    await Promise.race([gate(key).opened, new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))]);
    if (ctx.attempt === 1) throw new Error('first attempt fails');
    return 'done';
  },
});

beforeAll(async () => {
  server = await startTestServer({ tasks: [talk], runner: { queues: ['default'] } });
  client = createClient({ url: server.url });
  env = { TASKWIRE_URL: server.url };
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

const lines = (text: string): string[] => text.trim().split('\n');
const expectedChunks = (count: number): string[] => Array.from({ length: count }, (_, i) => JSON.stringify({ i: i + 1, text: `chunk ${i + 1} of ${count}` }));

describe('taskwire logs', () => {
  it('--follow prints demo.output\'s chunks live, one JSON line each, and exits 0 when the task ends', async () => {
    const task = await client.enqueue('demo.output', [20, 10], { queue: 'logs-follow' });
    const follow = startCli(['logs', task.id, '--follow'], env);
    // Subscribed before anything runs: the chunks arrive live, not from a finished task's log.
    await waitFor(() => server.app.logStats.subscriptions === 1 || follow.child.exitCode !== null, { timeoutMs: 30_000, message: 'logs --follow to subscribe' });
    await server.startRunner({ queues: ['logs-follow'] });
    const result = await follow.done;
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(lines(result.stdout)).toEqual(expectedChunks(20));
    // Read again after the end, with and without --follow: the same.
    const [again, followed] = await Promise.all([runCli(['logs', task.id], env), runCli(['logs', task.id, '-f'], env)]);
    expect(lines(again.stdout)).toEqual(expectedChunks(20));
    expect(followed.stdout).toBe(again.stdout);
  });

  it('without --follow prints what exists and exits while the task runs on; strings as they are, other values as JSON lines', async () => {
    const task = await client.enqueue('test.talk', ['logs-now'], { maxAttempts: 2 });
    await waitFor(async () => (await collectOutput(task.id)).length === 3, { message: 'the first attempt\'s three chunks' });
    const now = await runCli(['logs', task.id], env);
    expect(now).toMatchObject({ code: 0, stdout: 'hello world\n{"n":1}\n', stderr: '' });

    // The first attempt fails, the second writes the same again: both kept, the second marked.
    const follow = startCli(['logs', task.id, '--follow'], env);
    gate('logs-now').open();
    const result = await follow.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('hello world\n{"n":1}\nhello world\n{"n":2}\n');
    expect(result.stderr).toBe('--- attempt 2 ---\n');

    const json = await runCli(['logs', task.id, '--json'], env);
    const events = lines(json.stdout).map((l) => JSON.parse(l) as TaskEvent);
    expect(events.map((e) => [e.type, e.attempt, e.output])).toEqual([
      ['OUTPUT', 1, 'hello '],
      ['OUTPUT', 1, 'world\n'],
      ['OUTPUT', 1, { n: 1 }],
      ['OUTPUT', 2, 'hello '],
      ['OUTPUT', 2, 'world\n'],
      ['OUTPUT', 2, { n: 2 }],
    ]);
    expect(events.every((e, i) => i === 0 || e.version > events[i - 1]!.version)).toBe(true);
  });

  it('marks where a snoozed task\'s output starts over under the same attempt, live and read back; --json gives each chunk its run', async () => {
    const task = await client.enqueue('test.rerun', ['logs-rerun'], { queue: 'logs-rerun' });
    const follow = startCli(['logs', task.id, '--follow'], env);
    await waitFor(() => server.app.logStats.subscriptions === 1 || follow.child.exitCode !== null, { timeoutMs: 30_000, message: 'logs --follow to subscribe' });
    await server.startRunner({ queues: ['logs-rerun'] });
    const result = await follow.done;
    expect(result).toMatchObject({ code: 0, stdout: '{"i":1}\n{"i":2}\n{"i":1}\n', stderr: '--- attempt 1 (run again) ---\n' });
    expect(await runCli(['logs', task.id], env)).toMatchObject({ code: 0, stdout: result.stdout, stderr: result.stderr });

    const json = await runCli(['logs', task.id, '--json'], env);
    const events = lines(json.stdout).map((l) => JSON.parse(l) as TaskEvent & { run: number });
    expect(events.map((e) => [e.type, e.attempt, e.run, e.output])).toEqual([
      ['OUTPUT', 1, 1, { i: 1 }],
      ['OUTPUT', 1, 1, { i: 2 }],
      ['OUTPUT', 1, 2, { i: 1 }],
    ]);
  });

  it('exits 1 with the errors when the task failed, 1 for an unknown id, 2 for misuse, 3 when the server is unreachable', async () => {
    const failed = await client.enqueue('test.talk', ['logs-fail']);
    gate('logs-fail').open();
    const [followed, missing, misuse, unreachable] = await Promise.all([
      runCli(['logs', failed.id, '--follow'], env),
      runCli(['logs', '01900000-0000-7000-8000-000000000000'], env),
      runCli(['logs', failed.id, '--timeout', '5'], env),
      runCli(['logs', failed.id, '--follow', '--url', CLOSED_URL]),
    ]);
    expect(followed.code).toBe(1);
    expect(followed.stdout).toBe('hello world\n{"n":1}\n');
    expect(followed.stderr).toMatch(/^taskwire: task \S+ \(test\.talk\) FAILED after 1 attempt\(s\)\n {2}attempt 1: Error: first attempt fails\n$/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^taskwire: NOT_FOUND: /);
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toMatch(/^taskwire logs: --timeout goes with --follow/);
    expect(unreachable.code).toBe(3);
  });
});

async function collectOutput(id: string): Promise<unknown[]> {
  const chunks: unknown[] = [];
  for await (const chunk of client.output(id, { follow: false })) chunks.push(chunk.data);
  return chunks;
}
