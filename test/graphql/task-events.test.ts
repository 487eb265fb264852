import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TaskChangesDocument,
  TaskEventFeedDocument,
  TaskEventLogDocument,
  TaskEventsDocument,
  TaskEventsWithTaskDocument,
  type TaskEventsSubscription,
  type TaskEventType,
} from '../generated/graphql.js';
import { onlyError, startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

type Event = TaskEventsSubscription['taskEvents'];

// The event log over GraphQL: replay then live, every version once, in order.
let server: TestServer;
beforeAll(async () => {
  // Claiming ahead on (the default 10 ms), as in production: RUNNING of a 1 ms task is the state
  // a conflated stream skips; the log must still deliver it.
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

const enqueue = (name: string, args: unknown[]): Promise<string> => server.enqueue(name, args);

const versions = (events: Event[]): number[] => events.map((e) => e.version);

describe('taskEvents', () => {
  it('streams every version of a 1 ms task once, in order, subscribed before it runs and after it finished', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => enqueue('math.copysign', [i, -1])));
    const early = ids.map((id) => server.subscribeWs(TaskEventsDocument, { id, afterVersion: 0 }));
    await Promise.all(early.map((s) => s.waitFor((e) => e.taskEvents.version === 1)));
    await server.startRunner();
    for (const [i, stream] of early.entries()) {
      expect(await stream.done).toBe('complete');
      const events = stream.values.map((v) => v.taskEvents);
      expect(versions(events)).toEqual([1, 2, 3]);
      expect(events.map((e) => [e.type, e.status])).toEqual([
        ['ENQUEUED', 'PENDING'],
        ['STARTED', 'RUNNING'],
        ['SUCCEEDED', 'SUCCEEDED'],
      ]);
      expect(events.every((e) => e.taskId === ids[i])).toBe(true);
    }
    // After it finished: the whole life replayed over both transports, then the end.
    const late = [server.subscribeWs(TaskEventsDocument, { id: ids[0]!, afterVersion: 0 }), server.subscribeSse(TaskEventsDocument, { id: ids[0]!, afterVersion: 0 })];
    for (const stream of late) {
      expect(await stream.done).toBe('complete');
      expect(stream.values.map((v) => v.taskEvents.status)).toEqual(['PENDING', 'RUNNING', 'SUCCEEDED']);
    }
    // Resuming after the last version of a finished task: nothing more, the end at once.
    const resumed = server.subscribeWs(TaskEventsDocument, { id: ids[0]!, afterVersion: 3 });
    expect(await resumed.done).toBe('complete');
    expect(resumed.values).toEqual([]);
  });

  it('resumes from the last version seen after the socket is cut, with no gap and no repeat', async () => {
    if (!server.runner) await server.startRunner();
    const id = await enqueue('demo.output', [40, 5]);
    const client = server.wsClient();
    const first = server.subscribeWs(TaskEventsDocument, { id, afterVersion: 0 }, client);
    await first.waitFor((v) => v.taskEvents.type === 'OUTPUT' && (v.taskEvents.output as { i: number }).i >= 5);
    await client.dispose(); // the socket goes away mid-stream
    await first.done.catch(() => 'cut');
    const last = first.values.at(-1)!.taskEvents.version;
    const second = server.subscribeWs(TaskEventsDocument, { id, afterVersion: last });
    expect(await second.done).toBe('complete');
    const all = [...first.values, ...second.values].map((v) => v.taskEvents);
    expect(versions(all)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect(all.filter((e) => e.type === 'OUTPUT').map((e) => (e.output as { i: number }).i)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(all.at(-1)).toMatchObject({ type: 'SUCCEEDED' });
  });

  it('ends when a read of exactly one full batch stops at the terminal event', async () => {
    if (!server.runner) await server.startRunner();
    const id = await enqueue('demo.output', [600, 0]);
    const whole = server.subscribeWs(TaskEventsDocument, { id, afterVersion: 0 });
    expect(await whole.done).toBe('complete');
    const last = whole.values.at(-1)!.taskEvents.version;
    // The server reads 500 events per task at a time: this read ends exactly at the terminal event.
    const tail = server.subscribeWs(TaskEventsDocument, { id, afterVersion: last - 500 });
    expect(await tail.done).toBe('complete');
    expect(tail.values).toHaveLength(500);
    expect(tail.values.at(-1)?.taskEvents.type).toBe('SUCCEEDED');
  });

  it('passes on only the types asked for, and still ends at the terminal event', async () => {
    if (!server.runner) await server.startRunner();
    const id = await enqueue('demo.fail', ['boom']);
    const stream = server.subscribeWs(TaskEventsDocument, { id, afterVersion: 0, types: ['FAILED'] });
    expect(await stream.done).toBe('complete');
    expect(stream.values.map((v) => [v.taskEvents.type, v.taskEvents.error?.message])).toEqual([['FAILED', 'boom']]);
  });

  it('answers NOT_FOUND for an unknown id and BAD_USER_INPUT for a malformed one or a negative afterVersion', async () => {
    for (const subscribe of [server.subscribeWs.bind(server), server.subscribeSse.bind(server)]) {
      const unknown = subscribe(TaskEventsDocument, { id: '01900000-0000-7000-8000-000000000000' });
      await unknown.done;
      expect(unknown.values).toEqual([]);
      expect(unknown.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      const malformed = subscribe(TaskEventsDocument, { id: 'nope' });
      await malformed.done;
      expect(malformed.errors.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'id']]);
      const negative = subscribe(TaskEventsDocument, { id: '01900000-0000-7000-8000-000000000000', afterVersion: -1 });
      await negative.done;
      expect(negative.errors.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'afterVersion']]);
    }
  });
});

describe('taskEvents selecting task', () => {
  it("reads the events' task ahead, a few events to a read rather than one read each", async () => {
    if (!server.runner) await server.startRunner();
    const id = await enqueue('demo.output', [300, 0]);
    await waitFor(async () => (await server.deps.queue.getTask(id))?.status === 'SUCCEEDED', { message: 'the output written' });
    const queue = server.deps.queue;
    const getTasks = queue.getTasks.bind(queue);
    let reads = 0;
    queue.getTasks = (ids) => ((reads += 1), getTasks(ids));
    try {
      const stream = server.subscribeWs(TaskEventsWithTaskDocument, { id, afterVersion: 0 });
      expect(await stream.done).toBe('complete');
      const events = stream.values.map((v) => v.taskEvents);
      expect(events.map((e) => e.version)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
      expect(events.length).toBeGreaterThan(300);
      expect(events.every((e) => e.task.id === id && e.task.status === 'SUCCEEDED')).toBe(true);
      // Up to 200 events a read; one per event before.
      expect(reads).toBeLessThanOrEqual(5);
    } finally {
      queue.getTasks = getTasks;
    }
  });
});

describe('Task.events', () => {
  it('pages the log oldest first with version cursors', async () => {
    if (!server.runner) await server.startRunner();
    const id = await enqueue('math.copysign', [1, -1]);
    await waitFor(async () => (await server.execute(TaskEventLogDocument, { id })).data?.taskResult?.version === 3, { message: 'the task to finish' });
    const first = (await server.execute(TaskEventLogDocument, { id, first: 2 })).data!.taskResult!.events;
    expect(first.edges.map((e) => e.node.type)).toEqual(['ENQUEUED', 'STARTED']);
    expect(first.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const rest = (await server.execute(TaskEventLogDocument, { id, first: 2, after: first.pageInfo.endCursor })).data!.taskResult!.events;
    expect(rest.edges.map((e) => [e.node.version, e.node.type])).toEqual([[3, 'SUCCEEDED']]);
    expect(rest.edges[0]!.node.task).toEqual({ id, status: 'SUCCEEDED' });
    expect(rest.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const bad = await server.execute(TaskEventLogDocument, { id, after: 'garbage' });
    expect(onlyError(bad).extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('pages back from the latest events with last and before, still oldest first', async () => {
    if (!server.runner) await server.startRunner();
    const id = await enqueue('math.copysign', [2, -1]);
    await waitFor(async () => (await server.execute(TaskEventLogDocument, { id })).data?.taskResult?.version === 3, { message: 'the task to finish' });
    const page = async (variables: { last?: number; before?: string | null; after?: string | null; first?: number; types?: TaskEventType[] }) => {
      const events = (await server.execute(TaskEventLogDocument, { id, ...variables })).data!.taskResult!.events;
      return { versions: events.edges.map((e) => e.node.version), ...events.pageInfo };
    };
    const latest = await page({ last: 2 });
    expect(latest).toMatchObject({ versions: [2, 3], hasPreviousPage: true, hasNextPage: false });
    expect(await page({ last: 2, before: latest.startCursor })).toMatchObject({ versions: [1], hasPreviousPage: false, hasNextPage: true });
    // Both cursors bound the window; the types filter applies to the far sides too.
    const versionCursor = (v: number): string => Buffer.from(`version:${v}`).toString('base64url');
    expect(await page({ after: versionCursor(1), before: versionCursor(3), first: 10 })).toMatchObject({ versions: [2], hasNextPage: true, hasPreviousPage: true });
    // before without last: the window's first page, which says that events follow the window.
    expect(await page({ before: versionCursor(3) })).toMatchObject({ versions: [1, 2], hasNextPage: true, hasPreviousPage: false });
    expect(await page({ last: 1, types: ['STARTED'] })).toMatchObject({ versions: [2], hasPreviousPage: false, hasNextPage: false });
    expect(await page({ last: 5, before: versionCursor(3), types: ['SUCCEEDED'] })).toMatchObject({ versions: [], hasPreviousPage: false, hasNextPage: true });
    // Forward, hasPreviousPage minds the types too (it said true after any cursor: a "load earlier" over nothing).
    expect(await page({ after: versionCursor(2), types: ['SUCCEEDED'] })).toMatchObject({ versions: [3], hasPreviousPage: false, hasNextPage: false });
    expect(await page({ after: versionCursor(2), types: ['ENQUEUED', 'SUCCEEDED'] })).toMatchObject({ versions: [3], hasPreviousPage: true });
    expect(await page({ after: versionCursor(9), first: 5 })).toMatchObject({ versions: [], hasPreviousPage: true });
    expect(await page({ last: 0 })).toMatchObject({ versions: [], hasPreviousPage: true });

    const both = await server.execute(TaskEventLogDocument, { id, first: 1, last: 1 });
    expect([onlyError(both).extensions?.code, onlyError(both).extensions?.field]).toEqual(['BAD_USER_INPUT', 'last']);
    const tooMany = await server.execute(TaskEventLogDocument, { id, last: 1001 });
    expect([onlyError(tooMany).extensions?.code, onlyError(tooMany).extensions?.field]).toEqual(['BAD_USER_INPUT', 'last']);
    const badBefore = await server.execute(TaskEventLogDocument, { id, last: 1, before: 'garbage' });
    expect([onlyError(badBefore).extensions?.code, onlyError(badBefore).extensions?.field]).toEqual(['BAD_USER_INPUT', 'before']);
  });
});

describe('taskEventFeed', () => {
  it('refuses a filter that tasks, cancelTasks and retryTasks refuse (a NUL in filter.queue) with BAD_USER_INPUT, over graphql-ws and SSE, and so does taskStatusChanged(filter:)', async () => {
    for (const subscribe of [server.subscribeWs.bind(server), server.subscribeSse.bind(server)]) {
      const feed = subscribe(TaskEventFeedDocument, { filter: { queue: 'a\u0000' } });
      // Without the check the feed stayed open, matching nothing: give it a few seconds, not the test's timeout.
      const ended = await Promise.race([feed.done, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 5000).unref())]);
      if (ended === 'still open') feed.unsubscribe();
      expect(ended).not.toBe('still open');
      expect(feed.values).toEqual([]);
      expect(feed.errors.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'filter.queue']]);
      // taskStatusChanged(filter:) too.
      const changes = subscribe(TaskChangesDocument, { filter: { queue: 'a\u0000' } });
      const over = await Promise.race([changes.done, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 5000).unref())]);
      if (over === 'still open') changes.unsubscribe();
      expect(over).not.toBe('still open');
      expect(changes.errors.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'filter.queue']]);
    }
  });

  it('streams events of matching tasks from now on', async () => {
    if (!server.runner) await server.startRunner();
    const feed = server.subscribeWs(TaskEventFeedDocument, { filter: { name: 'demo.echo' } });
    // "From now on" starts when the server has the subscription, which the client is not told:
    // enqueue markers until one shows up.
    const markers = new Set<string>();
    await waitFor(
      async () => {
        markers.add(await enqueue('demo.echo', ['marker']));
        return feed.values.some((v) => markers.has(v.taskEventFeed.taskId));
      },
      { message: 'the feed to deliver a marker' },
    );
    const id = await enqueue('demo.echo', ['after']);
    await enqueue('math.copysign', [1, 1]); // filtered out
    await feed.waitFor((v) => v.taskEventFeed.taskId === id && v.taskEventFeed.status === 'SUCCEEDED');
    expect(feed.values.every((v) => v.taskEventFeed.task.name === 'demo.echo')).toBe(true);
    expect(feed.values.filter((v) => v.taskEventFeed.taskId === id).map((v) => v.taskEventFeed.version)).toEqual([1, 2, 3]);
    feed.unsubscribe();
  });

  it('resumes from a cursor exactly: every later event of matching tasks, once, in order', async () => {
    if (!server.runner) await server.startRunner();
    const marker = await enqueue('demo.echo', ['from here']);
    const log = await waitFor(
      async () => {
        const task = (await server.execute(TaskEventLogDocument, { id: marker })).data?.taskResult;
        return task?.version === 3 ? task.events.edges : undefined;
      },
      { message: 'the marker to finish' },
    );
    const from = log.at(-1)!.node.cursor;
    const feed = server.subscribeWs(TaskEventFeedDocument, { filter: { name: 'demo.echo' }, after: from });
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => enqueue('demo.echo', [i])));
    await enqueue('math.copysign', [1, 1]); // filtered out
    for (const id of ids) await feed.waitFor((v) => v.taskEventFeed.taskId === id && v.taskEventFeed.status === 'SUCCEEDED');
    const got = feed.values.map((v) => v.taskEventFeed);
    expect(got.every((e) => e.task.name === 'demo.echo')).toBe(true);
    expect(got.some((e) => e.taskId === marker)).toBe(false);
    const keys = got.map((e) => `${e.taskId}:${e.version}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const id of ids) expect(got.filter((e) => e.taskId === id).map((e) => e.version)).toEqual([1, 2, 3]);
    feed.unsubscribe();

    // Again from the same cursor, on a new subscription: the same events in the same order.
    const again = server.subscribeWs(TaskEventFeedDocument, { filter: { name: 'demo.echo' }, after: from });
    await again.waitFor((v) => `${v.taskEventFeed.taskId}:${v.taskEventFeed.version}` === keys.at(-1));
    expect(again.values.map((v) => `${v.taskEventFeed.taskId}:${v.taskEventFeed.version}`).slice(0, keys.length)).toEqual(keys);
    again.unsubscribe();
  });
});
