import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import type { Task } from '../../../src/queue/index.js';
import { claimTasks } from '../../../src/queue/sql/claim-tasks.js';
import { completeTasks } from '../../../src/queue/sql/complete-tasks.js';
import { createTaskEventHub, type TaskEventHub } from '../../../src/server/live/hub.js';
import { EVENTS_CHANNEL } from '../../../src/queue/events.js';
import { uuidv7 } from '../../../src/queue/uuid.js';
import { createTestApp, type TestApp } from '../../helpers/app.js';
import { insertTask } from '../../helpers/factories.js';
import { waitFor } from '../../helpers/wait.js';

let app: TestApp;
let hub: TaskEventHub;
beforeAll(async () => {
  app = await createTestApp();
  // One delivery per turn of the event loop: a burst is handed out over hundreds of turns, so
  // the task's next changes are read while the previous one is still being handed out.
  hub = createTaskEventHub({ sql: app.deps.db.sql, queue: app.deps.queue, log: silentLogger, publishSlice: 1 });
  await hub.start();
});
afterAll(async () => {
  await hub?.close();
  await app?.close();
});

async function collect(iterator: AsyncIterableIterator<Task>): Promise<Pick<Task, 'version' | 'status'>[]> {
  const seen: Pick<Task, 'version' | 'status'>[] = [];
  for await (const task of iterator) seen.push({ version: task.version, status: task.status });
  return seen;
}

describe('createTaskEventHub', () => {
  it('hands out changes in slices; however states overtake each other, each subscriber sees increasing versions ending with the terminal one', async () => {
    const steps = 12;
    const task = await app.deps.queue.enqueue({ name: 'demo.progress', args: [steps, 0] });
    const subscribers = await Promise.all(Array.from({ length: 300 }, () => hub.watchTask(task.id)));
    const streams = subscribers.map(collect);
    const runner = app.deps.createRunner({ pollIntervalMs: 50 });
    await runner.start();
    try {
      const seen = await Promise.all(streams);
      const terminal = { version: steps + 3, status: 'SUCCEEDED' }; // 1 + claim + one per step + done
      for (const versions of seen) {
        expect(versions[0]).toEqual({ version: 1, status: 'PENDING' });
        expect(versions.at(-1)).toEqual(terminal);
        for (let i = 1; i < versions.length; i++) expect(versions[i]!.version).toBeGreaterThan(versions[i - 1]!.version);
      }
      expect(hub.stats.delivered).toBe(seen.reduce((n, versions) => n + versions.length, 0));
      expect(hub.stats.subscriptions).toBe(0);
      // Each change read at most once, however many subscribers.
      expect(hub.stats.changeReadQueries).toBeLessThanOrEqual(steps + 2);
    } finally {
      await runner.stop();
    }
  });

  it('a task read ahead of its notifications is not read, nor handed to a filter subscriber, again when they come', async () => {
    const sql = app.deps.db.sql;
    const name = 'demo.read-ahead';
    const early = await hub.watchTasks({ name });
    let late: AsyncIterableIterator<Task> | undefined;
    try {
      // Written without NOTIFY (no statement of the core does that) so that the test sends the
      // notifications itself, in the order a loaded server sees them: t is SUCCEEDED (version 3)
      // by the time its STARTED notification (version 2) is read.
      const [t, u] = [uuidv7(), uuidv7()];
      await sql`INSERT INTO tasks (id, name, args) VALUES (${t}, ${name}, '[]'), (${u}, ${name}, '[]')`;
      await sql`UPDATE tasks SET status = 'SUCCEEDED', finished_at = now(), version = 3 WHERE id = ${t}`;
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${t}:2:RUNNING`})`;
      expect((await early.next()).value).toMatchObject({ id: t, version: 3, status: 'SUCCEEDED' });
      // A filter subscriber that has not seen t (as one whose bounded memory of versions moved on
      // in a burst of 20,000 tasks): t's own SUCCEEDED notification must not bring t back.
      late = await hub.watchTasks({ name });
      const reads = hub.stats.taskReads;
      await sql`UPDATE tasks SET status = 'CANCELLED', finished_at = now(), version = 2 WHERE id = ${u}`;
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${t}:3:SUCCEEDED`})`;
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${u}:2:CANCELLED`})`;
      // Notifications are handled in order: u's arrival means t's was handled before it.
      expect((await late.next()).value).toMatchObject({ id: u, version: 2 });
      expect((await early.next()).value).toMatchObject({ id: u, version: 2 });
      expect(hub.stats.taskReads - reads).toBe(1);
    } finally {
      await early.return?.();
      await late?.return?.();
    }
  });

  it('a task watched by id after it ended is not handed to a filter subscriber again; one read ahead of its notification is, once, when it comes', async () => {
    const sql = app.deps.db.sql;
    const name = 'demo.first-state';
    const early = await hub.watchTasks({ name });
    let late: AsyncIterableIterator<Task> | undefined;
    let watch: AsyncIterableIterator<Task> | undefined;
    try {
      // t ended, and every filter subscriber of the time was handed its end.
      const [t, u, v, w] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
      await sql`INSERT INTO tasks (id, name, args) VALUES (${t}, ${name}, '[]'), (${u}, ${name}, '[]'), (${v}, ${name}, '[]'), (${w}, ${name}, '[]')`;
      await sql`UPDATE tasks SET status = 'SUCCEEDED', finished_at = now(), version = 3 WHERE id = ${t}`;
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${t}:3:SUCCEEDED`})`;
      expect((await early.next()).value).toMatchObject({ id: t, version: 3 });
      // A filter subscriber that has not seen t (as one whose bounded memory moved on), then a
      // subscriber by id of t, whose first state is read: that read is no change to hand out.
      late = await hub.watchTasks({ name });
      const ended = await hub.watchTask(t);
      expect((await ended.next()).value).toMatchObject({ id: t, version: 3 });
      await sql`UPDATE tasks SET status = 'CANCELLED', finished_at = now(), version = 2 WHERE id = ${u}`;
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${u}:2:CANCELLED`})`;
      expect((await late.next()).value).toMatchObject({ id: u, version: 2 });
      expect((await early.next()).value).toMatchObject({ id: u, version: 2 });

      // v is RUNNING and its notification is still on its way when a subscriber by id reads it:
      // filters get that state when the notification comes, without a read, and only once.
      await sql`UPDATE tasks SET status = 'RUNNING', version = 2 WHERE id = ${v}`;
      watch = await hub.watchTask(v);
      expect((await watch.next()).value).toMatchObject({ id: v, version: 2 });
      const reads = hub.stats.taskReads;
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${v}:2:RUNNING`})`;
      await sql`UPDATE tasks SET status = 'CANCELLED', finished_at = now(), version = 2 WHERE id = ${w}`;
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${w}:2:CANCELLED`})`;
      for (const filter of [early, late]) {
        expect((await filter.next()).value).toMatchObject({ id: v, version: 2, status: 'RUNNING' });
        expect((await filter.next()).value).toMatchObject({ id: w, version: 2 });
      }
      expect(hub.stats.taskReads - reads).toBe(1); // w's
    } finally {
      await early.return?.();
      await late?.return?.();
      await watch?.return?.();
    }
  });

  // Two subscribers by id whose first states are read by two reads in a row: the first is given
  // PENDING, the second read finds RUNNING. That read made RUNNING the known version, so its
  // notification was skipped as known and the first subscriber was never given RUNNING (nor
  // anything else while the task stayed RUNNING). Seen over SSE beside graphql-ws: the client
  // that arrived first sat at PENDING until the task ended.
  it.each([
    { notified: 'during the second read' as const },
    { notified: 'after the second read' as const },
  ])('a newer state read as a later subscriber\'s first state reaches the earlier subscribers too (notification $notified)', async ({ notified }) => {
    const sql = app.deps.db.sql;
    // Each read waits until the test lets it query (until the test is over).
    const held: (() => void)[] = [];
    let holding = true;
    const queue = {
      ...app.deps.queue,
      getTasks: async (ids: string[]) => {
        if (holding) await new Promise<void>((resolve) => held.push(resolve));
        return app.deps.queue.getTasks(ids);
      },
    };
    const release = async (): Promise<void> => {
      await waitFor(() => held.length > 0, { message: 'a read' });
      held.shift()!();
    };
    // No filter subscriber: the only subscribers of the task are the two below.
    const own = createTaskEventHub({ sql, queue, log: silentLogger });
    await own.start();
    const task = await insertTask(sql, { queue: 'first-states' });
    try {
      const first = own.watchTask(task.id);
      await waitFor(() => held.length === 1, { message: 'the first subscriber\'s read' });
      const second = own.watchTask(task.id);
      await waitFor(() => own.stats.subscriptions === 2, { message: 'the second subscriber' });
      await release();
      const early = await first;
      expect((await early.next()).value).toMatchObject({ version: 1, status: 'PENDING' });
      // The second subscriber's own read (the first had not made PENDING known when it came).
      await waitFor(() => held.length === 1, { message: 'the second subscriber\'s read' });
      // Claimed by a worker, its notification sent by the test (when the case says).
      await sql`UPDATE tasks SET status = 'RUNNING', version = 2, attempts = 1, started_at = now() WHERE id = ${task.id}`;
      const notify = async (): Promise<void> => {
        const before = own.stats.notifications;
        await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${task.id}:2:RUNNING`})`;
        await waitFor(() => own.stats.notifications > before, { message: 'the notification' });
      };
      if (notified === 'during the second read') await notify();
      await release();
      const late = await second;
      expect((await late.next()).value).toMatchObject({ version: 2, status: 'RUNNING' });
      if (notified === 'after the second read') await notify();
      const next = await Promise.race([early.next(), new Promise((resolve) => setTimeout(resolve, 2000, 'nothing within 2 s'))]);
      expect(next).toMatchObject({ value: { version: 2, status: 'RUNNING' }, done: false });
      await early.return?.();
      await late.return?.();
    } finally {
      holding = false;
      held.splice(0).forEach((go) => go());
      await own.close();
    }
  });

  it('ends a subscription at once when its consumer returns, mid-burst', async () => {
    const task = await app.deps.queue.enqueue({ name: 'demo.progress', args: [5, 0] });
    const [leaving, staying] = await Promise.all([hub.watchTask(task.id), hub.watchTask(task.id)]);
    expect((await leaving!.next()).value).toMatchObject({ version: 1 });
    await leaving!.return?.();
    expect(await leaving!.next()).toEqual({ value: undefined, done: true });
    expect(hub.stats.subscriptions).toBe(1);
    const runner = app.deps.createRunner({ pollIntervalMs: 50 });
    await runner.start();
    try {
      expect((await collect(staying!)).at(-1)).toEqual({ version: 8, status: 'SUCCEEDED' });
      expect(hub.stats.subscriptions).toBe(0);
    } finally {
      await runner.stop();
    }
  });

  it('hands out every task of one read, however small each one is (one change of many tasks in one statement)', async () => {
    const tasks = await app.deps.queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ name: 'demo.echo', args: [i], queue: 'one-read' })));
    const ids = tasks.map((t) => t.id);
    // Default slices: each task's one subscriber is handed its state at once, within the read's loop.
    const hub = createTaskEventHub({ sql: app.deps.db.sql, queue: app.deps.queue, log: silentLogger });
    await hub.start();
    const seen = new Map(ids.map((id) => [id, [] as Pick<Task, 'version' | 'status'>[]]));
    const ended = ids.map(async (id) => {
      for await (const task of await hub.watchTask(id)) seen.get(id)!.push({ version: task.version, status: task.status });
    });
    await waitFor(() => hub.stats.subscriptions === ids.length, { message: 'the subscriptions' });
    // One statement claims all five and announces them in one notification: one read, five publications.
    const sql = app.deps.db.sql;
    const reads = hub.stats.changeReadQueries;
    expect(await claimTasks(sql, { workerId: 'one-read', limit: 5, queues: ['one-read'], leaseMs: 60_000 })).toHaveLength(5);
    await waitFor(() => ids.every((id) => seen.get(id)!.length === 2), { timeoutMs: 20_000, message: 'every subscriber to get RUNNING' });
    expect(hub.stats.changeReadQueries - reads).toBe(1);
    // And one statement ends them all.
    await completeTasks(sql, 'one-read', ids.map((id) => ({ id, attempt: 1, returnValue: 'null' })), 60_000);
    await Promise.all(ended);
    for (const id of ids) {
      expect(seen.get(id)).toEqual([
        { version: 1, status: 'PENDING' },
        { version: 2, status: 'RUNNING' },
        { version: 3, status: 'SUCCEEDED' },
      ]);
    }
    await hub.close();
  });
});

describe('a closing hub', () => {
  it('hands out a change committed before close() whose notification it has not handled, then ends the streams', async () => {
    const sql = app.deps.db.sql;
    const closing = createTaskEventHub({ sql, queue: app.deps.queue, log: silentLogger });
    await closing.start();
    const task = await insertTask(sql, { status: 'RUNNING', queue: 'closing-hub' });
    const states = collect(await closing.watchTask(task.id));
    const events = (async () => {
      const seen: string[] = [];
      for await (const e of await closing.watchTaskEvents(task.id, 0, [])) seen.push(`${e.version} ${e.type}`);
      return seen;
    })();
    await waitFor(() => closing.stats.delivered === 1 && closing.logStats.delivered === 2, { message: 'the first state and events' });
    // The worker's last completion (npm start stops its worker just before its server), its
    // notification still on its way: committed without one, as if close() came first.
    await sql`
      WITH changed AS (
        UPDATE tasks SET status = 'SUCCEEDED', version = version + 1, finished_at = clock_timestamp(), locked_by = NULL, lease_expires_at = NULL
        WHERE id = ${task.id} RETURNING *
      )
      INSERT INTO task_events (task_id, version, type, status, attempt) SELECT id, version, 'SUCCEEDED', status, attempts FROM changed`;
    await closing.close();
    expect((await states).at(-1)).toEqual({ version: 3, status: 'SUCCEEDED' });
    expect(await events).toEqual(['1 ENQUEUED', '2 STARTED', '3 SUCCEEDED']);
  });
});

describe('a closed hub', () => {
  it('refuses new subscriptions of every kind with SHUTTING_DOWN, not a masked internal error', async () => {
    const closing = createTaskEventHub({ sql: app.deps.db.sql, queue: app.deps.queue, log: silentLogger });
    await closing.start();
    const task = await app.deps.queue.enqueue({ name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000) });
    await closing.close();
    const shuttingDown = expect.objectContaining({ code: 'SHUTTING_DOWN' });
    await expect(closing.watchTask(task.id)).rejects.toEqual(shuttingDown);
    await expect(closing.watchTaskEvents(task.id, 0, [])).rejects.toEqual(shuttingDown);
    await expect(closing.watchTasks({})).rejects.toEqual(shuttingDown);
    await expect(Promise.resolve().then(() => closing.watchEventFeed({}, null))).rejects.toEqual(shuttingDown);
    await app.deps.queue.cancelTask(task.id);
  });
});
