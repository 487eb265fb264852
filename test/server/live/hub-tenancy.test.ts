import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskEvents } from '../../../src/graphql/context.js';
import { silentLogger } from '../../../src/logger.js';
import type { FeedEvent, Queue, Task } from '../../../src/queue/index.js';
import { uuidv7 } from '../../../src/queue/uuid.js';
import { createTaskEventHub, type TaskEventHub } from '../../../src/server/live/hub.js';
import { createTestApp, type TestApp } from '../../helpers/app.js';
import { waitFor } from '../../helpers/wait.js';

let app: TestApp;
let hub: TaskEventHub;
let acmeQueue: Queue;
let globexQueue: Queue;
beforeAll(async () => {
  app = await createTestApp();
  hub = createTaskEventHub({ sql: app.deps.db.sql, queue: app.deps.queue, log: silentLogger });
  await hub.start();
  acmeQueue = app.deps.queue.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: 'key-acme' });
  globexQueue = app.deps.queue.scoped({ readTenant: 'globex', writeTenant: 'globex', createdBy: 'key-globex' });
});
afterAll(async () => {
  await hub?.close();
  await app?.close();
});

interface Collected<T> {
  items: T[];
  stop(): Promise<void>;
}

/** Reads a stream in the background until stop(). */
function collect<T>(iterator: AsyncIterableIterator<T>): Collected<T> {
  const items: T[] = [];
  const done = (async () => {
    for await (const item of iterator) items.push(item);
  })();
  return {
    items,
    async stop() {
      await iterator.return?.();
      await done;
    },
  };
}

/** What a caller can tell of a refusal: everything, with the id it named written as `<id>`. */
async function refusal(attempt: () => Promise<unknown>, id: string): Promise<Record<string, unknown>> {
  try {
    await attempt();
  } catch (error) {
    const e = error as { name: string; code: unknown; field: unknown; message: string; details: unknown };
    return { name: e.name, code: e.code, field: e.field, details: e.details, message: e.message.split(id).join('<id>') };
  }
  throw new Error('expected a refusal');
}

describe('hub.scoped', () => {
  it('delivers zero foreign tasks or events to filter-less subscriptions under two tenants\' load, reading each change once', async () => {
    const views: Record<'acme' | 'globex', TaskEvents> = { acme: hub.scoped('acme'), globex: hub.scoped('globex') };
    const feedStart = await app.deps.queue.feedEnd();
    const states = { acme: [] as Collected<Task>[], globex: [] as Collected<Task>[] };
    const feeds = { acme: [] as Collected<FeedEvent>[], globex: [] as Collected<FeedEvent>[] };
    for (const tenant of ['acme', 'globex'] as const) {
      for (let i = 0; i < 3; i++) states[tenant].push(collect(await views[tenant].watchTasks({})));
      // One feed subscriber follows the shared tail, one starts in the past and catches up on its own.
      feeds[tenant].push(collect(await views[tenant].watchEventFeed({}, null)));
      feeds[tenant].push(collect(await views[tenant].watchEventFeed({}, feedStart)));
    }
    const everyone = collect(await hub.watchTasks({}));
    const readsBefore = { taskReads: hub.stats.taskReads, events: hub.stats.events };

    // Both tenants enqueue at the same time, in the same statements (the batcher mixes them), and run.
    const perTenant = 60;
    const made = await Promise.all(
      Array.from({ length: perTenant * 2 }, (_, i) => (i % 2 === 0 ? acmeQueue : globexQueue).enqueue({ name: 'demo.echo', args: [i] })),
    );
    const ids = { acme: new Set<string>(), globex: new Set<string>() };
    for (const task of made) ids[task.tenant as 'acme' | 'globex'].add(task.id);
    expect([ids.acme.size, ids.globex.size]).toEqual([perTenant, perTenant]);
    await app.startRunner();

    const finished = (items: readonly { id?: string; taskId?: string; status: string }[], own: Set<string>): boolean =>
      new Set(items.filter((x) => x.status === 'SUCCEEDED').map((x) => x.id ?? x.taskId)).size >= own.size;
    await waitFor(
      () =>
        (['acme', 'globex'] as const).every(
          (t) => states[t].every((s) => finished(s.items, ids[t])) && feeds[t].every((f) => finished(f.items, ids[t])),
        ) && finished(everyone.items, new Set([...ids.acme, ...ids.globex])),
      { timeoutMs: 30_000, message: 'every subscriber to see its tenant\'s tasks succeed' },
    );
    await Promise.all([...states.acme, ...states.globex, ...feeds.acme, ...feeds.globex, everyone].map((c) => c.stop()));

    for (const tenant of ['acme', 'globex'] as const) {
      const other = tenant === 'acme' ? ids.globex : ids.acme;
      for (const s of states[tenant]) {
        expect(s.items.filter((task) => other.has(task.id)).length).toBe(0);
        expect(s.items.filter((task) => ids[tenant].has(task.id)).length).toBeGreaterThanOrEqual(perTenant);
      }
      for (const f of feeds[tenant]) {
        expect(f.items.filter((event) => other.has(event.taskId)).length).toBe(0);
        // Every event of the tenant's tasks, none skipped: ENQUEUED, STARTED, SUCCEEDED each.
        expect(f.items.filter((event) => ids[tenant].has(event.taskId)).length).toBe(perTenant * 3);
      }
    }
    // The unscoped hub still sees every tenant.
    expect(everyone.items.some((t) => ids.acme.has(t.id)) && everyone.items.some((t) => ids.globex.has(t.id))).toBe(true);
    // One read per change, whatever the number of tenants and subscribers: never more rows read than changes announced.
    expect(hub.stats.taskReads - readsBefore.taskReads).toBeLessThanOrEqual(hub.stats.events - readsBefore.events);
    await app.stopRunners();
  });

  it('refuses watchTask and watchTaskEvents of a foreign id exactly as of an unknown one, even while its own tenant watches it', async () => {
    const theirs = await globexQueue.enqueue({ name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000) });
    const mine = await acmeQueue.enqueue({ name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000) });
    // Their own subscription keeps the task's state in the hub's cache: the refusal must not depend on it.
    const watching = await hub.scoped('globex').watchTask(theirs.id);
    expect((await watching.next()).value).toMatchObject({ id: theirs.id, tenant: 'globex' });
    const acme = hub.scoped('acme');
    const unknown = uuidv7();
    const calls: ((id: string) => Promise<unknown>)[] = [(id) => acme.watchTask(id), (id) => acme.watchTaskEvents(id, 0, [])];
    for (const call of calls) {
      const foreign = await refusal(() => call(theirs.id), theirs.id);
      expect(foreign).toEqual(await refusal(() => call(unknown), unknown));
      expect(foreign).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    }
    expect(await acme.loadTask(theirs.id)).toBeUndefined();
    expect(await acme.loadTask(unknown)).toBeUndefined();
    expect(await acme.loadTask(mine.id)).toMatchObject({ id: mine.id });
    expect(await hub.loadTask(theirs.id)).toMatchObject({ id: theirs.id });
    // Its own tasks it may watch; nothing it was refused stayed subscribed.
    const own = await acme.watchTask(mine.id);
    expect((await own.next()).value).toMatchObject({ id: mine.id, version: 1 });
    const ownEvents = await acme.watchTaskEvents(mine.id, 0, []);
    expect((await ownEvents.next()).value).toMatchObject({ taskId: mine.id, type: 'ENQUEUED' });
    await Promise.all([own.return?.(), ownEvents.return?.(), watching.return?.()]);
    expect(hub.stats.subscriptions).toBe(0);
    await app.deps.queue.cancelTask(mine.id);
    await app.deps.queue.cancelTask(theirs.id);
  });

  it('keeps a filter naming another tenant empty, and the unscoped hub serves a tenant filter', async () => {
    const acmeNamingGlobex = collect(await hub.scoped('acme').watchTasks({ tenant: 'globex' }));
    const globexOnly = collect(await hub.watchTasks({ tenant: 'globex' }));
    // Subscribed after the others, so offered each change after them (the hub keeps subscription order).
    const everyone = collect(await hub.watchTasks({ queue: 'tenant-filter' }));
    const theirs = await globexQueue.enqueue({ name: 'demo.echo', queue: 'tenant-filter', runAfter: new Date(Date.now() + 3_600_000) });
    const mine = await acmeQueue.enqueue({ name: 'demo.echo', queue: 'tenant-filter', runAfter: new Date(Date.now() + 3_600_000) });
    await app.deps.queue.cancelTask(mine.id);
    await app.deps.queue.cancelTask(theirs.id);
    await waitFor(() => globexOnly.items.some((t) => t.id === theirs.id && t.status === 'CANCELLED'), { message: "globex's cancellation" });
    await waitFor(() => everyone.items.some((t) => t.id === mine.id && t.status === 'CANCELLED'), { message: "acme's cancellation" });
    await Promise.all([acmeNamingGlobex.stop(), globexOnly.stop(), everyone.stop()]);
    expect(acmeNamingGlobex.items).toEqual([]);
    expect(globexOnly.items.every((t) => t.tenant === 'globex')).toBe(true);
  });
});
