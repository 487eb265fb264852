import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Task, type TaskwireClient } from '../../src/client/index.js';
import { buildApp, type App } from '../../src/server/app.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

let server: TestServer;
let client: TaskwireClient;
let gates: Gates;
const apps: App[] = [];

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: gates.tasks, runner: {} });
  client = createClient({ url: server.url, retry: { attempts: 30, baseMs: 20, maxMs: 200 } });
});

afterAll(async () => {
  await client?.close();
  for (const app of apps) await app.stop();
  await server?.close();
});

describe('watch across server restarts', () => {
  it('reconnects with backoff, skips versions already seen, and ends with the terminal state', async () => {
    const port = Number(new URL(server.url).port);
    const restart = async (): Promise<App> => {
      const app = buildApp(server.deps);
      apps.push(app);
      await app.start(port, '127.0.0.1');
      return app;
    };
    const task = await client.enqueue('test.steps', ['restart', 1]);
    const seen: Task[] = [];
    const watching = (async () => {
      for await (const state of client.watch(task.id)) seen.push(state);
    })();
    const sawState = (predicate: (t: Task) => boolean, message: string): Promise<Task> =>
      waitFor(() => seen.find(predicate), { timeoutMs: 10_000, message });

    await sawState((t) => t.status === 'RUNNING', 'RUNNING');
    // Restart while the task runs: the new subscription's first result (the current state)
    // repeats a version the watch has seen, and must not be yielded again.
    await server.app.stop();
    const second = await restart();
    await waitFor(() => second.stats.subscriptions === 1, { message: 'the watch to subscribe to the second server' });
    gates.open('restart:1');
    await sawState((t) => t.progress?.current === 1, 'progress 1 through the second server');

    // Stop again, and let the task finish while no server is up: the watch learns of the end
    // from the third server's current state.
    await second.stop();
    gates.open('restart:done');
    await waitFor(async () => (await server.deps.queue.getTask(task.id))?.status === 'SUCCEEDED', { message: 'the task to succeed' });
    await restart();
    await watching;

    const versions = seen.map((s) => s.version);
    expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
    expect(seen.filter((s) => s.status === 'RUNNING' && s.progress === null)).toHaveLength(1);
    expect(seen.at(-1)).toMatchObject({ status: 'SUCCEEDED', isFinished: true, returnValue: { steps: 1 } });
  });
});
