import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Task, type TaskEvent, type TaskwireClient } from '../../src/client/index.js';
import { buildApp, type App } from '../../src/server/app.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { startProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { drain } from '../helpers/drain.js';

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

const versionsOf = (items: { version: number }[]): number[] => items.map((i) => i.version);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('events across a cut connection', () => {
  it('resubscribes from the last version taken: nothing lost, nothing sent twice', async () => {
    const proxy = await startProxy(Number(new URL(server.url).port));
    const viaProxy = createClient({ url: proxy.url, retry: { attempts: 30, baseMs: 20, maxMs: 200 } });
    try {
      const task = await client.enqueue('test.steps', ['cut', 2]);
      const events = drain(viaProxy.events(task.id));
      await waitFor(() => events.seen.some((e) => e.type === 'STARTED'), { message: 'STARTED' });
      const stats = server.app.logStats;
      proxy.cut();
      // The server sees the socket go; once the way is open again graphql-ws reconnects and
      // subscribes again by itself (no `complete` came: the client did not resubscribe).
      await waitFor(() => stats.subscriptions === 0, { message: 'the cut subscription to end' });
      proxy.reopen();
      await waitFor(() => stats.subscriptions === 1, { message: 'the subscription to be renewed' });
      for (const gate of ['cut:1', 'cut:2', 'cut:done']) gates.open(gate);
      await events.done;
      expect(events.seen.map((e) => [e.version, e.type])).toEqual([
        [1, 'ENQUEUED'],
        [2, 'STARTED'],
        [3, 'PROGRESS'],
        [4, 'PROGRESS'],
        [5, 'SUCCEEDED'],
      ]);
      // The renewed subscription asked for what follows version 2: the server sent each event once.
      expect(stats.delivered).toBe(5);
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });
});

describe('watch and events across server restarts', () => {
  it('resume by version on the next server: no gap, no repeat, and the terminal state with its return value', async () => {
    const port = Number(new URL(server.url).port);
    const restart = async (): Promise<App> => {
      const app = buildApp(server.deps);
      apps.push(app);
      await app.start(port, '127.0.0.1');
      return app;
    };
    const task = await client.enqueue('test.steps', ['restart', 1]);
    const events = drain<TaskEvent>(client.events(task.id));
    const replayed = drain<Task>(client.watch(task.id, { afterVersion: 0 }));
    const current = drain<Task>(client.watch(task.id));
    const sawAll = (predicate: (e: TaskEvent) => boolean, message: string): Promise<unknown> =>
      waitFor(() => events.seen.some(predicate) && replayed.seen.some((s) => s.version >= (events.seen.find(predicate)?.version ?? Infinity)), { message });

    await sawAll((e) => e.type === 'STARTED', 'RUNNING');
    await server.app.stop();
    const second = await restart();
    await waitFor(() => second.logStats.subscriptions === 3, { message: 'the three streams to subscribe to the second server' });
    gates.open('restart:1');
    await sawAll((e) => e.type === 'PROGRESS', 'progress 1 through the second server');

    // Stop again, and let the task finish while no server is up: the streams learn of the end
    // from the third server, from the log.
    await second.stop();
    gates.open('restart:done');
    await waitFor(async () => (await server.deps.queue.getTask(task.id))?.status === 'SUCCEEDED', { message: 'the task to succeed' });
    await restart();
    await Promise.all([events.done, replayed.done, current.done]);

    expect(events.seen.map((e) => [e.version, e.type])).toEqual([
      [1, 'ENQUEUED'],
      [2, 'STARTED'],
      [3, 'PROGRESS'],
      [4, 'SUCCEEDED'],
    ]);
    expect(versionsOf(replayed.seen)).toEqual([1, 2, 3, 4]);
    expect(replayed.seen.map((s) => s.status)).toEqual(['PENDING', 'RUNNING', 'RUNNING', 'SUCCEEDED']);
    // From the state it read first, every later version once.
    const first = current.seen[0]!.version;
    expect(versionsOf(current.seen)).toEqual(range(first, 4));
    for (const states of [replayed.seen, current.seen]) {
      expect(states.at(-1)).toMatchObject({ status: 'SUCCEEDED', isFinished: true, returnValue: { steps: 1 } });
    }
  });
});
