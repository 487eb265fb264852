import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { runCli } from './run-cli.js';

// `taskwire queues` (docs/flow-control.md) against a real server: list, pause, resume, limits.
let server: TestServer;
let env: Record<string, string>;
beforeAll(async () => {
  server = await startTestServer();
  env = { TASKWIRE_URL: server.url };
});
afterAll(async () => {
  await server?.close();
});

describe('taskwire queues', () => {
  it('pauses a queue with no task yet, limits it, lists it, clears and resumes it', async () => {
    const paused = await runCli(['queues', 'pause', 'cli-q'], env);
    expect(paused).toMatchObject({ code: 0, stdout: 'cli-q paused, concurrency -, rate -, per key -\n' });
    const limited = await runCli(['queues', 'limits', 'cli-q', '--concurrency', '5', '--rate', '50/1000', '--per-key', '2', '--json'], env);
    expect(limited.code).toBe(0);
    expect(JSON.parse(limited.stdout)).toMatchObject({ name: 'cli-q', paused: true, concurrency: 5, rateLimit: { max: 50, perMs: 1000 }, perKeyConcurrency: 2 });
    const list = await runCli(['queues'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^QUEUE\s+STATE\s+CONCURRENCY\s+RATE\s+PER KEY/);
    expect(list.stdout).toMatch(/^cli-q\s+paused\s+5\s+50\/1000ms\s+2\s+0\s+0\s+0$/m);
    const rateCleared = await runCli(['queues', 'limits', 'cli-q', '--rate', 'none'], env);
    expect(rateCleared.stdout).toBe('cli-q paused, concurrency 5, rate -, per key 2\n');
    const cleared = await runCli(['queues', 'limits', 'cli-q', '--clear'], env);
    expect(cleared.stdout).toBe('cli-q paused, concurrency -, rate -, per key -\n');
    const resumed = await runCli(['queues', 'resume', 'cli-q'], env);
    expect(resumed.stdout).toBe('cli-q active, concurrency -, rate -, per key -\n');
  });

  it('refuses bad usage with exit code 2: no limit given, a bad rate, --clear with a limit, an unknown subcommand, a limit out of range', async () => {
    expect((await runCli(['queues', 'limits', 'cli-q'], env)).code).toBe(2);
    expect((await runCli(['queues', 'limits', 'cli-q', '--rate', 'fast'], env)).code).toBe(2);
    expect((await runCli(['queues', 'limits', 'cli-q', '--clear', '--concurrency', '3'], env)).code).toBe(2);
    expect((await runCli(['queues', 'stop', 'cli-q'], env)).code).toBe(2);
    expect((await runCli(['queues', 'limits', 'cli-q', '--concurrency', '0'], env)).code).toBe(2);
  });
});
