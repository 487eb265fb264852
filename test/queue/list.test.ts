import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../../src/queue/index.js';
import { encodeCursor, type ListParams, type TaskPage } from '../../src/queue/list.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { matchesFilter } from '../../src/queue/task-filter.js';
import { createQueueTestApp, setEnqueuedAt, type QueueTestApp } from '../helpers/factories.js';

let app: QueueTestApp;
// The page's own cursors, as a program using the core pages with them.
const endCursor = (page: TaskPage): string | null => page.endCursor;
const startCursor = (page: TaskPage): string | null => page.startCursor;
/** All tasks of the fixture, newest first (the order of listTasks). */
let all: Task[];
const T0 = new Date('2030-01-01T00:00:00Z');

beforeAll(async () => {
  app = await createQueueTestApp();
  // 30 tasks: names alternate, queues in thirds, one enqueue minute each from T0.
  const inputs = Array.from({ length: 30 }, (_, i) => ({
    name: i % 2 === 0 ? 'demo.echo' : 'demo.sleep',
    args: i % 2 === 0 ? [i] : [i],
    queue: ['q-a', 'q-b', 'q-c'][i % 3] as string,
    runAfter: new Date(Date.now() + 3_600_000), // no runner here, but keep them out of reach
  }));
  const created: Task[] = [];
  for (const input of inputs) created.push(await app.deps.queue.enqueue(input));
  for (const [i, t] of created.entries()) await setEnqueuedAt(app.sql, t.id, new Date(T0.getTime() + i * 60_000));
  // Every 5th task cancelled: a second status to filter on.
  for (const t of created.filter((_, i) => i % 5 === 0)) await app.deps.queue.cancelTask(t.id);
  all = (await app.deps.queue.getTasks(created.map((t) => t.id))).sort((a, b) => (a.id < b.id ? 1 : -1));
});
afterAll(async () => {
  await app.close();
});

/** Walks every page forward (first/after) and returns the pages' ids. */
async function walkForward(params: ListParams, size: number): Promise<{ pages: string[][]; flags: [boolean, boolean][] }> {
  const pages: string[][] = [];
  const flags: [boolean, boolean][] = [];
  let after: string | null = null;
  for (;;) {
    const page = await app.deps.queue.listTasks({ ...params, first: size, after });
    pages.push(page.tasks.map((t) => t.id));
    flags.push([page.hasPreviousPage, page.hasNextPage]);
    if (!page.hasNextPage) return { pages, flags };
    after = endCursor(page);
  }
}

describe('listTasks', () => {
  it('pages forward newest first with first/after, flags right at both ends', async () => {
    const { pages, flags } = await walkForward({}, 7);
    expect(pages.flat()).toEqual(all.map((t) => t.id));
    expect(pages.map((p) => p.length)).toEqual([7, 7, 7, 7, 2]);
    expect(flags).toEqual([
      [false, true],
      [true, true],
      [true, true],
      [true, true],
      [true, false],
    ]);
  });

  it('pages backward with last/before, ending at the newest task', async () => {
    const ids: string[][] = [];
    let before: string | null = null;
    let page = await app.deps.queue.listTasks({ last: 8 });
    expect(page.hasNextPage).toBe(false); // the oldest tasks are the end of the list
    for (;;) {
      ids.unshift(page.tasks.map((t) => t.id));
      if (!page.hasPreviousPage) break;
      before = startCursor(page);
      page = await app.deps.queue.listTasks({ last: 8, before });
      expect(page.hasNextPage).toBe(true);
    }
    expect(ids.flat()).toEqual(all.map((t) => t.id));
    expect(ids.map((p) => p.length)).toEqual([6, 8, 8, 8]);
  });

  it('returns the same tasks forward and backward between two cursors', async () => {
    const first = await app.deps.queue.listTasks({ first: 10 });
    const backToStart = await app.deps.queue.listTasks({ last: 9, before: endCursor(first) });
    expect(backToStart.tasks.map((t) => t.id)).toEqual(first.tasks.slice(0, 9).map((t) => t.id));
    expect(backToStart).toMatchObject({ hasPreviousPage: false, hasNextPage: true });
  });

  it.each<[string, NonNullable<ListParams['filter']>, (t: Task) => boolean]>([
    ['status', { status: ['CANCELLED'] }, (t) => t.status === 'CANCELLED'],
    ['several statuses', { status: ['CANCELLED', 'PENDING'] }, () => true],
    ['name', { name: 'demo.sleep' }, (t) => t.name === 'demo.sleep'],
    ['queue', { queue: 'q-b' }, (t) => t.queue === 'q-b'],
    ['name and queue', { name: 'demo.echo', queue: 'q-c' }, (t) => t.name === 'demo.echo' && t.queue === 'q-c'],
    [
      'enqueue time',
      { enqueuedAfter: new Date(T0.getTime() + 4 * 60_000), enqueuedBefore: new Date(T0.getTime() + 20 * 60_000) },
      (t) => t.enqueuedAt.getTime() > T0.getTime() + 4 * 60_000 && t.enqueuedAt.getTime() < T0.getTime() + 20 * 60_000,
    ],
  ])('filters by %s, in pages, with the right totalCount, as the in-process matcher does', async (_what, filter, keep) => {
    const expected = all.filter(keep).map((t) => t.id);
    expect(expected.length).toBeGreaterThan(3);
    // Subscriptions and the dashboard apply matchesFilter: it must keep what the SQL keeps.
    expect(all.filter((t) => matchesFilter(t, filter)).map((t) => t.id)).toEqual(expected);
    const { pages, flags } = await walkForward({ filter }, 3);
    expect(pages.flat()).toEqual(expected);
    expect(flags.at(0)?.[0]).toBe(false);
    expect(flags.at(-1)?.[1]).toBe(false);
    expect(await (await app.deps.queue.listTasks({ filter, first: 1 })).totalCount()).toBe(expected.length);
  });

  it("compares enqueue times at the millisecond, as the matcher and the API do: a task's own enqueuedAt asks for newer ones", async () => {
    // The column holds microseconds; every reader sees milliseconds (a Date).
    const [t] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', queue: 'q-us', runAfter: new Date(Date.now() + 3_600_000) }]);
    await app.sql`UPDATE tasks SET enqueued_at = '2031-01-01T00:00:00.808717Z' WHERE id = ${t!.id}`;
    const task = (await app.deps.queue.getTask(t!.id))!;
    expect(task.enqueuedAt.toISOString()).toBe('2031-01-01T00:00:00.808Z');
    const ids = async (filter: NonNullable<ListParams['filter']>): Promise<string[]> => (await app.deps.queue.listTasks({ filter, first: 10 })).tasks.map((x) => x.id);
    const cases: Array<[NonNullable<ListParams['filter']>, boolean]> = [
      [{ queue: 'q-us', enqueuedAfter: task.enqueuedAt }, false],
      [{ queue: 'q-us', enqueuedAfter: new Date(task.enqueuedAt.getTime() - 1) }, true],
      [{ queue: 'q-us', enqueuedBefore: task.enqueuedAt }, false],
      [{ queue: 'q-us', enqueuedBefore: new Date(task.enqueuedAt.getTime() + 1) }, true],
    ];
    for (const [filter, kept] of cases) {
      expect(matchesFilter(task, filter)).toBe(kept);
      expect(await ids(filter)).toEqual(kept ? [task.id] : []);
    }
    await app.sql`DELETE FROM tasks WHERE id = ${task.id}`;
  });

  it('stays stable while tasks are inserted between pages', async () => {
    const page1 = await app.deps.queue.listTasks({ first: 10 });
    const newer = await app.deps.queue.enqueueMany(
      Array.from({ length: 5 }, () => ({ name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000) })),
    );
    const page2 = await app.deps.queue.listTasks({ first: 10, after: endCursor(page1) });
    expect(page2.tasks.map((t) => t.id)).toEqual(all.slice(10, 20).map((t) => t.id));
    // The new tasks appear before the first page, where a client looking for newer ones looks.
    const fresh = await app.deps.queue.listTasks({ last: 10, before: startCursor(page1) });
    expect(fresh.tasks.map((t) => t.id)).toEqual(newer.map((t) => t.id).reverse());
    for (const t of newer) await app.sql`DELETE FROM tasks WHERE id = ${t.id}`;
  });

  it('returns an empty page with no neighbours past the end', async () => {
    const last = all.at(-1) as Task;
    const page = await app.deps.queue.listTasks({ first: 5, after: encodeCursor(last.id) });
    expect(page).toMatchObject({ tasks: [], hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null });
  });

  it.each<[string, ListParams, string]>([
    ['first over 100', { first: 101 }, 'first'],
    ['a negative last', { last: -1 }, 'last'],
    ['first and last together', { first: 1, last: 1 }, 'last'],
    ['a cursor that is not ours', { first: 1, after: 'garbage' }, 'after'],
    ['a before cursor that is not ours', { last: 1, before: Buffer.from('task:123').toString('base64url') }, 'before'],
    ['a filter status that is not one', { filter: { status: ['DONE' as never] } }, 'filter.status'],
    ['a NUL character in a filter name', { filter: { name: 'a\u0000b' } }, 'filter.name'],
    ['a filter date PostgreSQL cannot store', { filter: { enqueuedBefore: new Date('0000-06-01T00:00:00Z') } }, 'filter.enqueuedBefore'],
  ])('rejects %s with BAD_USER_INPUT naming the argument', async (_what, params, field) => {
    await expect(app.deps.queue.listTasks(params)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field });
  });
});

describe('queueStats', () => {
  it('counts tasks by queue and status, with the age of the oldest due task', async () => {
    const stats = await app.deps.queue.queueStats();
    const byQueue = new Map(stats.map((s) => [s.queue, s]));
    for (const q of ['q-a', 'q-b', 'q-c']) {
      const mine = all.filter((t) => t.queue === q);
      expect(byQueue.get(q)?.counts).toEqual({
        BLOCKED: 0,
        PENDING: mine.filter((t) => t.status === 'PENDING').length,
        RUNNING: 0,
        RETRYING: 0,
        SUCCEEDED: 0,
        FAILED: 0,
        CANCELLED: mine.filter((t) => t.status === 'CANCELLED').length,
      });
      // Their runAfter is in the future: nothing is waiting yet.
      expect(byQueue.get(q)?.oldestPendingAgeMs).toBeNull();
    }
    // One due for 5 s (enqueued then: a wait is counted from enqueue at the earliest), one due in an hour.
    const due = await app.deps.queue.enqueue({ name: 'demo.echo', queue: 'q-due' });
    await setEnqueuedAt(app.sql, due.id, new Date(Date.now() - 5000));
    await app.deps.queue.enqueue({ name: 'demo.echo', queue: 'q-due', runAfter: new Date(Date.now() + 3_600_000) });
    const later = (await app.deps.queue.queueStats()).find((s) => s.queue === 'q-due');
    expect(later?.counts.PENDING).toBe(2);
    expect(later?.oldestPendingAgeMs).toBeGreaterThanOrEqual(5000);
    expect(later?.oldestPendingAgeMs).toBeLessThan(60_000);
    await claimTasks(app.sql, { workerId: 'stats', limit: 1, queues: ['q-due'], leaseMs: 60_000 });
    const after = (await app.deps.queue.queueStats()).find((s) => s.queue === 'q-due');
    expect(after?.counts).toMatchObject({ PENDING: 1, RUNNING: 1 });
    expect(after?.oldestPendingAgeMs).toBeNull();
  });
});
