import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { feedEnd, readFeed, type FeedEvent } from '../../src/queue/event-feed.js';
import { createTaskLoader } from '../../src/server/live/task-loader.js';
import { getTasks } from '../../src/queue/get.js';
import { loadedTaskOf, withEventTasks } from '../../src/graphql/event-tasks.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { databaseThroughProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

// The feed's events with their tasks read ahead, many to a query (TaskEvent.task of a feed
// subscription): a consumer selecting task { … } read one task per round trip, and an event whose
// task could not be read reached it as data: null without a cursor.
let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await app.close();
});

const FUTURE = () => new Date(Date.now() + 3_600_000);

/** The source a feed subscription gives: these events, in order, then the end. */
function sourceOf(events: readonly FeedEvent[]): AsyncIterableIterator<FeedEvent> {
  return (async function* () {
    yield* events;
  })();
}

/** The ENQUEUED events of `ids` in the feed after `from`, once all are readable (the horizon is the cluster's: another test file's transaction may hold it a while). */
async function feedEventsOf(ids: readonly string[], from: Awaited<ReturnType<typeof feedEnd>>): Promise<FeedEvent[]> {
  return waitFor(async () => {
    const page = await readFeed(app.sql, { after: from, limit: 1000 });
    const events = page.events.filter((e) => ids.includes(e.taskId));
    return events.length === ids.length ? events : undefined;
  }, { message: 'the events readable in the feed' });
}

async function drain<T>(it: AsyncIterableIterator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe('withEventTasks', () => {
  it('reads the tasks of the events at hand in one query, each event with its task as it is now', async () => {
    const from = await feedEnd(app.sql);
    const tasks = await app.deps.queue.enqueueMany(Array.from({ length: 450 }, (_, i) => ({ name: 'demo.echo', args: [i], runAfter: FUTURE() })));
    const events = await feedEventsOf(tasks.map((t) => t.id), from);
    expect(events).toHaveLength(450);
    await app.deps.queue.cancelTask(tasks[7]!.id);
    let reads = 0;
    const loader = createTaskLoader({ getTasks: (ids) => ((reads += 1), app.deps.queue.getTasks(ids)) });
    const out = await drain(withEventTasks(sourceOf(events), loader));
    expect(out.map((e) => [e.taskId, e.version])).toEqual(events.map((e) => [e.taskId, e.version]));
    expect(out.every((e) => loadedTaskOf(e)?.id === e.taskId)).toBe(true);
    expect((out[7] && loadedTaskOf(out[7]))?.status).toBe('CANCELLED');
    // 200 at a time: three reads for 450 events, where one per event was made before.
    expect(reads).toBe(3);
  });

  it('hands out no event of a task deleted since the feed read it (it is gone from the log, as a resumed feed would find)', async () => {
    const from = await feedEnd(app.sql);
    const tasks = await app.deps.queue.enqueueMany([0, 1, 2].map((i) => ({ name: 'demo.echo', args: [i], runAfter: FUTURE() })));
    const events = await feedEventsOf(tasks.map((t) => t.id), from);
    await app.sql`DELETE FROM tasks WHERE id = ${tasks[1]!.id}`;
    const out = await drain(withEventTasks(sourceOf(events), createTaskLoader(app.deps.queue)));
    expect(out.map((e) => e.taskId)).toEqual([tasks[0]!.id, tasks[2]!.id]);
  });

  it('waits for a database that went away and hands the events out once it is back', async () => {
    const from = await feedEnd(app.sql);
    const tasks = await app.deps.queue.enqueueMany([0, 1].map((i) => ({ name: 'demo.echo', args: [i], runAfter: FUTURE() })));
    const events = await feedEventsOf(tasks.map((t) => t.id), from);
    const { proxy, db } = await databaseThroughProxy(app.database.url, 1);
    let reads = 0;
    const queue = { getTasks: (ids: readonly string[]) => ((reads += 1), getTasks(db.sql, ids)) };
    try {
      proxy.cut();
      const it = withEventTasks(sourceOf(events), createTaskLoader(queue));
      let handedOut = false;
      const first = it.next().then((r) => ((handedOut = true), r));
      // Its read is under way and cannot be answered while the proxy refuses connections: nothing handed out.
      await waitFor(() => reads > 0, { message: 'the read sent' });
      expect(handedOut).toBe(false);
      proxy.reopen();
      expect(loadedTaskOf((await first).value!)?.id).toBe(tasks[0]!.id);
      expect(loadedTaskOf((await it.next()).value!)?.id).toBe(tasks[1]!.id);
      expect((await it.next()).done).toBe(true);
    } finally {
      await db.close();
      await proxy.close();
    }
  });

  it('tries a read that failed as the database being unavailable again, and hands the events out once it reads', async () => {
    const from = await feedEnd(app.sql);
    const [task] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', args: [], runAfter: FUTURE() }]);
    const events = await feedEventsOf([task!.id], from);
    // Reads that give up on a lock after 50 ms (55P03, which the server answers DATABASE_UNAVAILABLE)
    // while another session holds tasks locked.
    const reader = createDb(app.database.url, { max: 1, lockTimeoutMs: 50 });
    const holder = postgres(app.database.url, { max: 1, onnotice: () => undefined });
    let reads = 0;
    let failed = 0;
    try {
      let unlock!: () => void;
      const locked = new Promise<void>((resolve) => {
        void holder.begin(async (tx) => {
          await tx`LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE`;
          resolve();
          await new Promise<void>((release) => (unlock = release));
        });
      });
      await locked;
      const loader = createTaskLoader({
        getTasks: async (ids) => {
          reads += 1;
          try {
            return await getTasks(reader.sql, ids);
          } catch (error) {
            failed += 1;
            throw error;
          }
        },
      });
      const it = withEventTasks(sourceOf(events), loader);
      const first = it.next();
      await waitFor(() => failed >= 2, { message: 'two reads refused' });
      unlock();
      expect(loadedTaskOf((await first).value!)?.id).toBe(task!.id);
      expect(reads).toBe(failed + 1);
    } finally {
      await holder.end();
      await reader.close();
    }
  });

  it("hands out the events before a source's failure, then the failure once, then the end", async () => {
    const from = await feedEnd(app.sql);
    const tasks = await app.deps.queue.enqueueMany([0, 1].map((i) => ({ name: 'demo.echo', args: [i], runAfter: FUTURE() })));
    const events = await feedEventsOf(tasks.map((t) => t.id), from);
    const refused = new Error('after is not a position the event feed can be read from');
    const failing = (async function* () {
      yield* events;
      throw refused;
    })();
    const it = withEventTasks(failing, createTaskLoader(app.deps.queue));
    expect((await it.next()).value?.taskId).toBe(tasks[0]!.id);
    expect((await it.next()).value?.taskId).toBe(tasks[1]!.id);
    await expect(it.next()).rejects.toBe(refused);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('ends at once when closed while it waits for the database', async () => {
    const from = await feedEnd(app.sql);
    const [task] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', args: [], runAfter: FUTURE() }]);
    const events = await feedEventsOf([task!.id], from);
    const { proxy, db } = await databaseThroughProxy(app.database.url, 1);
    try {
      proxy.cut();
      let reads = 0;
      const it = withEventTasks(sourceOf(events), createTaskLoader({ getTasks: (ids) => ((reads += 1), getTasks(db.sql, ids)) }));
      const first = it.next();
      await waitFor(() => reads > 0, { message: 'the read sent' });
      await it.return?.();
      // The read under way waits for a connection that does not come: the closed iterator ends anyway.
      expect(await first).toEqual({ done: true, value: undefined });
    } finally {
      proxy.reopen();
      await db.close();
      await proxy.close();
    }
  });
});
