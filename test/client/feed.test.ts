import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCredentials } from '../../src/client/credentials.js';
import { createHttpTransport } from '../../src/client/http.js';
import { ConnectionError, createClient, RequestError, type TaskEvent, type TaskwireClient } from '../../src/client/index.js';
import { createFeedMethods } from '../../src/client/task-feed.js';
import { createWsTransport, type WsTransport } from '../../src/client/ws.js';
import { buildApp, type App } from '../../src/server/app.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { startProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { drain, type Drained } from '../helpers/drain.js';

let server: TestServer;
let client: TaskwireClient;
let gates: Gates;
const apps: App[] = [];
const RETRY = { attempts: 30, baseMs: 20, maxMs: 200 };

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: gates.tasks, runner: {} });
  client = createClient({ url: server.url, retry: RETRY });
});

afterAll(async () => {
  await client?.close();
  for (const app of apps) await app.stop();
  await server?.close();
});

/** The app serving now: the restart test replaces the first one. */
const live = (): App => apps.at(-1) ?? server.app;

const http = () => createHttpTransport({ url: server.url, credentials: createCredentials(undefined, undefined), requestTimeoutMs: 10_000 });

/** Aborts `stop`, and checks that the feeds ended for that reason and no other. */
async function stopFeeds(stop: AbortController, ...feeds: Drained<unknown>[]): Promise<void> {
  stop.abort();
  for (const feed of feeds) {
    await feed.done.catch(() => undefined);
    expect(feed.failure()).toBe(stop.signal.reason);
  }
}

/** Each task's versions as the feed gave them, in the order it gave them. */
function versionsByTask(events: readonly TaskEvent[]): Map<string, number[]> {
  const byTask = new Map<string, number[]>();
  for (const e of events) byTask.set(e.taskId, [...(byTask.get(e.taskId) ?? []), e.version]);
  return byTask;
}

/** Until the server has let go of the feeds of the tests before (an abort ends them a moment later there). */
const noFeeds = (): Promise<unknown> => waitFor(() => live().logStats.subscriptions === 0, { message: 'earlier feeds to end' });

const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const finished = (events: readonly TaskEvent[], id: string): boolean => events.some((e) => e.taskId === id && e.type === 'SUCCEEDED');

describe('feed()', () => {
  it("follows the filter's tasks from the position at the call, each version once and in order; withTask carries the task", async () => {
    const queue = 'feed-filter';
    await noFeeds();
    const stop = new AbortController();
    const plain = drain(client.feed({ filter: { queue }, signal: stop.signal }));
    const withTask = drain(client.feed({ filter: { queue }, withTask: true, signal: stop.signal }));
    await waitFor(() => live().logStats.subscriptions === 2, { message: 'both feeds to subscribe' });
    const ours = [await client.enqueue('math.copysign', [1, -1], { queue }), await client.enqueue('math.copysign', [2, 1], { queue })];
    const other = await client.enqueue('math.copysign', [3, 1], { queue: 'feed-elsewhere' });
    await waitFor(() => ours.every((t) => finished(plain.seen, t.id) && finished(withTask.seen, t.id)), { message: 'both tasks to succeed on both feeds' });
    await stopFeeds(stop, plain, withTask);

    for (const feed of [plain.seen, withTask.seen]) {
      expect(feed.some((e) => e.taskId === other.id)).toBe(false);
      // ENQUEUED, STARTED, SUCCEEDED: no claimed-ahead gap, nothing twice.
      expect([...versionsByTask(feed)]).toEqual(ours.map((t) => [t.id, upTo(3)]));
      expect(new Set(feed.map((e) => e.cursor)).size).toBe(feed.length);
    }
    const success = withTask.seen.find((e) => e.taskId === ours[0]!.id && e.type === 'SUCCEEDED');
    expect(success?.task).toMatchObject({ id: ours[0]!.id, status: 'SUCCEEDED', returnValue: -1 });
    expect('task' in plain.seen[0]!).toBe(false);
  });

  it('goes on from a saved cursor: an event committed after feedCursor() comes first', async () => {
    const queue = 'feed-cursor';
    const cursor = await client.feedCursor();
    const task = await client.enqueue('math.copysign', [1, 1], { queue });
    await client.wait(task.id, { timeoutMs: 10_000 });
    const stop = new AbortController();
    const feed = drain(client.feed({ filter: { queue }, after: cursor, signal: stop.signal }));
    await waitFor(() => finished(feed.seen, task.id), { message: 'the finished task replayed from the cursor' });
    // From the second event's cursor: the third alone.
    const resumed = drain(client.feed({ filter: { queue }, after: feed.seen[1]!.cursor, signal: stop.signal }));
    await waitFor(() => resumed.seen.length > 0, { message: 'the rest after the second event' });
    await stopFeeds(stop, feed, resumed);
    expect(feed.seen.map((e) => [e.version, e.type])).toEqual([
      [1, 'ENQUEUED'],
      [2, 'STARTED'],
      [3, 'SUCCEEDED'],
    ]);
    expect(resumed.seen.map((e) => e.version)).toEqual([3]);
  });

  it('loses nothing written while its connection was cut, also before its first event', async () => {
    const queue = 'feed-cut';
    const proxy = await startProxy(Number(new URL(server.url).port));
    const viaProxy = createClient({ url: proxy.url, retry: RETRY });
    const stop = new AbortController();
    try {
      await noFeeds();
      const stats = live().logStats;
      const feed = drain(viaProxy.feed({ filter: { queue }, signal: stop.signal }));
      await waitFor(() => stats.subscriptions === 1, { message: 'the feed to subscribe' });
      proxy.cut();
      await waitFor(() => stats.subscriptions === 0, { message: 'the cut subscription to end' });
      // Written while nobody follows: a feed resubscribed "from now" would never send these.
      const first = await client.enqueue('math.copysign', [1, -1], { queue });
      await client.wait(first.id, { timeoutMs: 10_000 });
      proxy.reopen();
      await waitFor(() => finished(feed.seen, first.id), { message: 'the events written during the cut' });
      // Cut again after it has taken events: it goes on from the last one.
      proxy.cut();
      await waitFor(() => stats.subscriptions === 0, { message: 'the second cut to end it' });
      const second = await client.enqueue('math.copysign', [2, -1], { queue });
      await client.wait(second.id, { timeoutMs: 10_000 });
      proxy.reopen();
      await waitFor(() => finished(feed.seen, second.id), { message: 'the events written during the second cut' });
      await stopFeeds(stop, feed);
      expect([...versionsByTask(feed.seen)]).toEqual([
        [first.id, upTo(3)],
        [second.id, upTo(3)],
      ]);
    } finally {
      stop.abort();
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('goes on across server restarts, with the events written while no server was up', async () => {
    const queue = 'feed-restart';
    const port = Number(new URL(server.url).port);
    const restart = async (): Promise<App> => {
      const app = buildApp(server.deps);
      apps.push(app);
      await app.start(port, '127.0.0.1');
      return app;
    };
    await noFeeds();
    const stop = new AbortController();
    const feed = drain(client.feed({ filter: { queue }, signal: stop.signal }));
    await waitFor(() => live().logStats.subscriptions === 1, { message: 'the feed to subscribe' });
    const first = await client.enqueue('math.copysign', [1, -1], { queue });
    await waitFor(() => finished(feed.seen, first.id), { message: 'the first task on the feed' });
    await server.app.stop();
    // Written while no server is up, straight into the queue.
    const [during] = await server.deps.queue.enqueueMany([{ name: 'math.copysign', args: [4, -1], queue }]);
    await waitFor(async () => (await server.deps.queue.getTask(during!.id))?.status === 'SUCCEEDED', { message: 'the task run meanwhile' });
    const second = await restart();
    await waitFor(() => finished(feed.seen, during!.id), { message: 'the events written while no server was up' });
    await second.stop();
    const third = await restart();
    const last = await client.enqueue('math.copysign', [5, -1], { queue });
    await waitFor(() => finished(feed.seen, last.id), { message: 'a task after the second restart' });
    expect(third.logStats.subscriptions).toBe(1);
    await stopFeeds(stop, feed);
    expect([...versionsByTask(feed.seen)]).toEqual([
      [first.id, upTo(3)],
      [during!.id, upTo(3)],
      [last.id, upTo(3)],
    ]);
  });

  it('throws what the server refuses for good, at once: a malformed cursor is BAD_USER_INPUT naming `after`', async () => {
    const feed = drain(client.feed({ after: 'not-a-cursor' }));
    await feed.done.catch(() => undefined);
    const error = feed.failure();
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    expect(feed.seen).toEqual([]);
  });

  describe('when the server ends its subscription (a server of an older release at its stop; SHUTTING_DOWN, DATABASE_UNAVAILABLE)', () => {
    // Today's server closes the socket at its stop (graphql-ws subscribes again by itself) and waits
    // out a database away: the feed's own renewal is for a server that completes the subscription.
    // The real server and transports, with the subscription cut short after `keep` results.
    function endingEarly(keep: (subscription: number) => number): { ws: WsTransport; asked: (string | null)[]; close: () => Promise<void> } {
      const real = createWsTransport({ wsUrl: server.url.replace('http:', 'ws:'), retry: RETRY, keepAliveMs: 0, connectTimeoutMs: 30_000, credentials: createCredentials(undefined, undefined) });
      const asked: (string | null)[] = [];
      const ws: WsTransport = {
        async *subscribe(document, variables, signal, flow) {
          const n = asked.push((variables as { after: string | null }).after);
          const limit = keep(n);
          if (limit === 0) return;
          let taken = 0;
          // As a server that completes after `limit` results: what arrives after them never did.
          let arrived = 0;
          const cut = flow && { ...flow, received: (result: Parameters<NonNullable<typeof flow.received>>[0]) => void (++arrived <= limit && flow.received?.(result)) };
          for await (const result of real.subscribe(document, variables, signal, cut)) {
            yield result;
            if (++taken === limit) return;
          }
        },
        close: () => real.close(),
      };
      return { ws, asked, close: () => real.close() };
    }

    it('subscribes again from the cursor of the last event taken: nothing lost, nothing twice', async () => {
      const queue = 'feed-renewed';
      const transport = endingEarly((n) => (n <= 3 ? 1 : Infinity));
      const lifetime = new AbortController();
      try {
        const methods = createFeedMethods({ http: http(), ws: transport.ws, retry: RETRY, lifetime: lifetime.signal });
        const start = await methods.feedCursor();
        const task = await client.enqueue('math.copysign', [1, -1], { queue });
        const feed = drain(methods.feed({ filter: { queue }, after: start }));
        await waitFor(() => finished(feed.seen, task.id) && transport.asked.length === 4, { message: 'the task to succeed on the feed, and the fourth subscription' });
        await stopFeeds(lifetime, feed);
        expect(feed.seen.map((e) => e.version)).toEqual([1, 2, 3]);
        // Each renewal asked for what follows the event before it.
        expect(transport.asked).toEqual([start, ...feed.seen.map((e) => e.cursor)]);
      } finally {
        await transport.close();
      }
    });

    it('gives up with CONNECTION_FAILED after retry.attempts renewals in a row that took nothing', async () => {
      const transport = endingEarly(() => 0);
      try {
        const methods = createFeedMethods({ http: http(), ws: transport.ws, retry: { attempts: 3, baseMs: 1, maxMs: 1 }, lifetime: new AbortController().signal });
        const feed = drain(methods.feed());
        await feed.done.catch(() => undefined);
    const error = feed.failure();
        expect(error).toBeInstanceOf(ConnectionError);
        expect(error).toMatchObject({ code: 'CONNECTION_FAILED' });
        expect(transport.asked).toHaveLength(4);
      } finally {
        await transport.close();
      }
    });
  });

  describe('a consumer behind the server', () => {
    /** The real transport, counting the events that arrived in the client (taken or waiting to be). */
    function counted(url: string): { ws: WsTransport; arrived: () => number } {
      const real = createWsTransport({ wsUrl: url.replace('http:', 'ws:'), retry: RETRY, keepAliveMs: 0, connectTimeoutMs: 30_000, credentials: createCredentials(undefined, undefined) });
      let arrived = 0;
      return {
        ws: {
          subscribe: (document, variables, signal, flow) =>
            real.subscribe(document, variables, signal, flow && { ...flow, received: (result: Parameters<NonNullable<typeof flow.received>>[0]) => ((arrived += 1), flow.received?.(result)) }),
          close: () => real.close(),
        },
        arrived: () => arrived,
      };
    }
    /** Takes events from `feed` until `done` says so; fails on a (task, version) taken twice. */
    async function takeUntil(feed: AsyncIterator<TaskEvent>, taken: TaskEvent[], done: () => boolean): Promise<void> {
      while (!done()) {
        const step = await feed.next();
        if (step.done) throw new Error('the feed ended');
        taken.push(step.value);
      }
    }

    it('takes nothing twice when its connection drops while events wait for it in the client', async () => {
      const queue = 'feed-behind-cut';
      const proxy = await startProxy(Number(new URL(server.url).port));
      const transport = counted(proxy.url);
      const lifetime = new AbortController();
      try {
        await noFeeds();
        const methods = createFeedMethods({ http: http(), ws: transport.ws, retry: RETRY, lifetime: lifetime.signal });
        const feed = methods.feed({ filter: { queue }, after: await methods.feedCursor() });
        const tasks = await client.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ name: 'math.copysign', args: [i, -1], queue })));
        const taken: TaskEvent[] = [];
        await takeUntil(feed, taken, () => taken.length === 1);
        await waitFor(() => transport.arrived() === 30, { message: 'every event in the client, one taken' });
        proxy.cut();
        await waitFor(() => live().logStats.subscriptions === 0, { message: 'the cut subscription to end' });
        proxy.reopen();
        await waitFor(() => live().logStats.subscriptions === 1, { message: 'graphql-ws to subscribe again' });
        const last = await client.enqueue('math.copysign', [10, -1], { queue });
        await takeUntil(feed, taken, () => finished(taken, last.id));
        await feed.return?.();
        const byTask = versionsByTask(taken);
        expect([...byTask.keys()]).toEqual([...tasks.map((t) => t.id), last.id]);
        for (const versions of byTask.values()) expect(versions).toEqual(upTo(3));
      } finally {
        lifetime.abort();
        await transport.ws.close();
        await proxy.close();
      }
    });

    it('holds at most a thousand events for it: the server stops sending until it has taken them, then goes on from the last', async () => {
      const queue = 'feed-behind-slow';
      const transport = counted(server.url);
      const lifetime = new AbortController();
      try {
        await noFeeds();
        const methods = createFeedMethods({ http: http(), ws: transport.ws, retry: RETRY, lifetime: lifetime.signal });
        const feed = methods.feed({ filter: { queue }, after: await methods.feedCursor() });
        const tasks = await client.enqueueMany(Array.from({ length: 500 }, (_, i) => ({ name: 'math.copysign', args: [i, -1], queue })));
        const taken: TaskEvent[] = [];
        await takeUntil(feed, taken, () => taken.length === 1);
        await waitFor(async () => (await server.deps.queue.listTasks({ filter: { queue, status: ['SUCCEEDED'] }, first: 1 })).totalCount() .then((n) => n === 500), { message: 'every task to succeed' });
        // 1,500 events written; the client stopped the subscription at a thousand waiting (and one taken).
        await waitFor(() => transport.arrived() === 1001, { message: 'a thousand events waiting in the client' });
        // The client's `complete` reaches the server a moment later (a CI run read 1 here at once).
        await waitFor(() => live().logStats.subscriptions === 0, { message: 'the server to end the subscription' });
        expect(transport.arrived()).toBe(1001);
        await takeUntil(feed, taken, () => taken.length === 1500);
        await feed.return?.();
        expect(transport.arrived()).toBe(1500);
        const byTask = versionsByTask(taken);
        expect([...byTask.keys()].sort()).toEqual(tasks.map((t) => t.id).sort());
        for (const versions of byTask.values()) expect(versions).toEqual(upTo(3));
      } finally {
        lifetime.abort();
        await transport.ws.close();
      }
    });
  });
});
