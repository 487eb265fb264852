import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelTaskDocument, EnqueueTaskDocument, TaskCountDocument, TasksDocument, type TasksQueryVariables } from '../generated/graphql.js';
import { onlyError, startTestServer, type TestServer } from '../helpers/graphql.js';

let server: TestServer;
const later = new Date(Date.now() + 86_400_000);
let initial: string[] = [];

beforeAll(async () => {
  server = await startTestServer({ runner: false });
  // 300 tasks, enqueued in one statement through the core; ids are time-ordered (uuid v7).
  const tasks = await server.deps.queue.enqueueMany(
    Array.from({ length: 300 }, (_, i) => ({ name: i % 3 === 0 ? 'demo.sleep' : 'demo.echo', args: i % 3 === 0 ? [1] : [i], queue: i % 2 ? 'odd' : 'even', runAfter: later })),
  );
  initial = tasks.map((t) => t.id);
});
afterAll(async () => {
  await server?.close();
});

async function page(variables: TasksQueryVariables) {
  const res = await server.execute(TasksDocument, variables);
  expect(res.errors).toBeUndefined();
  return res.data!.tasks;
}

async function insert(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await server.execute(EnqueueTaskDocument, { input: { name: 'demo.echo', args: ['new'], runAfter: later.toISOString() } });
    ids.push(res.data!.enqueueTask.task.id);
  }
  return ids;
}

async function allIdsNewestFirst(): Promise<string[]> {
  const rows = await server.database.db.sql`SELECT id FROM tasks ORDER BY id DESC`;
  return rows.map((r) => String(r.id));
}

describe('tasks', () => {
  it('pages forward, newest first, over 300 tasks while more are inserted: none twice, none missing', async () => {
    const seen: string[] = [];
    let after: string | null | undefined;
    let first = true;
    for (;;) {
      const p = await page({ first: 45, after });
      expect(p.pageInfo.hasPreviousPage).toBe(!first);
      seen.push(...p.edges.map((e) => e.node.id));
      expect(p.edges.at(-1)?.cursor).toBe(p.pageInfo.endCursor);
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
      first = false;
      await insert(2); // newer than the whole walk: they belong before page one
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...initial].reverse());
  });

  it('pages backward from the oldest while more are inserted: every task once, in order', async () => {
    const pages: string[][] = [];
    let before: string | null | undefined;
    for (;;) {
      const p = await page({ last: 45, before });
      pages.push(p.edges.map((e) => e.node.id));
      if (!p.pageInfo.hasPreviousPage) break;
      before = p.pageInfo.startCursor;
      await insert(2); // newer: the walk has yet to reach them, so it must include them
    }
    const seen = pages.reverse().flat();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(await allIdsNewestFirst());
  });

  it('filters by status, name, queue and enqueue time, and counts only the filtered set', async () => {
    const cancelled = initial.slice(10, 15);
    for (const id of cancelled) await server.execute(CancelTaskDocument, { id });
    const byStatus = await page({ first: 100, filter: { status: ['CANCELLED'] } });
    expect(byStatus.edges.map((e) => e.node.id)).toEqual([...cancelled].reverse());

    const sleepers = await page({ first: 100, filter: { name: 'demo.sleep', queue: 'even' } });
    expect(sleepers.edges.every((e) => e.node.name === 'demo.sleep' && e.node.queue === 'even')).toBe(true);
    expect(sleepers.edges).toHaveLength(50); // i ≡ 0 mod 3 and mod 2 among 0..299
    expect((await server.execute(TaskCountDocument, { filter: { name: 'demo.sleep', queue: 'even' } })).data!.tasks.totalCount).toBe(50);

    const [row] = await server.database.db.sql`SELECT max(enqueued_at) AS at FROM tasks`;
    const future = new Date((row!.at as Date).getTime() + 1).toISOString();
    expect((await page({ first: 5, filter: { enqueuedAfter: future } })).edges).toEqual([]);
    expect((await server.execute(TaskCountDocument, { filter: { enqueuedBefore: future } })).data!.tasks.totalCount).toBe(await server.countTasks());
  });

  it('refuses first: 1000 with BAD_USER_INPUT naming the argument', async () => {
    const error = onlyError(await server.execute(TasksDocument, { first: 1000 }));
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });
});
