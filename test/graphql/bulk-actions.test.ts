import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createBulkActionRunner, type BulkActionRunner } from '../../src/queue/bulk-actions/index.js';
import { BulkCancelDocument, BulkChangedDocument, BulkGetDocument, BulkRetryDocument, type BulkFragment } from '../generated/graphql.js';
import { insertBulkTasks } from '../helpers/bulk-tasks.js';
import { onlyError, startTestServer, type TestServer } from '../helpers/graphql.js';

// Bulk actions over GraphQL (DESIGN Part 2 §E): cancelTasks / retryTasks, bulkAction and the
// progress seen over bulkActionChanged (graphql-ws and SSE), until DONE.
let server: TestServer;
let runner: BulkActionRunner | undefined;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await runner?.stop();
  runner = undefined;
  await server.sql`DELETE FROM tasks`;
  await server.sql`DELETE FROM bulk_actions`;
});

/** A runner with small batches, so an action takes several versions. */
async function startBulkRunner(batchSize: number): Promise<void> {
  runner = createBulkActionRunner({ sql: server.sql, log: silentLogger, resultTtlMs: 60_000, batchSize, pollIntervalMs: 60_000 });
  await runner.start();
}

const far = (): Date => new Date(Date.now() + 3_600_000);

/** The progress a stream showed is a real one: versions increasing, counts never going back, the end DONE with every task processed. */
function expectProgress(values: BulkFragment[], matched: number, changed: number): void {
  const versions = values.map((v) => v.version);
  expect(versions).toEqual([...versions].sort((a, b) => a - b));
  expect(new Set(versions).size).toBe(versions.length);
  for (const [i, v] of values.entries()) if (i > 0) expect(v.processed).toBeGreaterThanOrEqual(values[i - 1]?.processed ?? 0);
  expect(values.at(-1)).toMatchObject({ status: 'DONE', matched, processed: matched, changed });
  expect(values.slice(0, -1).every((v) => v.status === 'RUNNING')).toBe(true);
}

describe('cancelTasks / bulkActionChanged', () => {
  it('cancels the matching tasks in batches while subscribers over graphql-ws and SSE see the progress to DONE', async () => {
    await insertBulkTasks(server.sql, { count: 1000, status: 'PENDING', name: 'demo.echo', runAfter: far() });
    await insertBulkTasks(server.sql, { count: 20, status: 'PENDING', name: 'demo.other', runAfter: far() });
    const created = await server.execute(BulkCancelDocument, { filter: { status: ['PENDING'], name: 'demo.echo' } });
    const action = created.data?.cancelTasks;
    expect(action).toMatchObject({ kind: 'CANCEL', status: 'RUNNING', matched: 1000, processed: 0, changed: 0, version: 1, finishedAt: null });
    if (!action) throw new Error('no action');
    const ws = server.subscribeWs(BulkChangedDocument, { id: action.id });
    const sse = server.subscribeSse(BulkChangedDocument, { id: action.id });
    await ws.waitFor((v) => v.bulkActionChanged.version === 1);
    await sse.waitFor((v) => v.bulkActionChanged.version === 1);

    await startBulkRunner(100);
    expect(await ws.done).toBe('complete');
    expect(await sse.done).toBe('complete');
    for (const stream of [ws, sse]) {
      const values = stream.values.map((v) => v.bulkActionChanged);
      expectProgress(values, 1000, 1000);
      // Progress, not just the start and the end (11 versions: 10 batches and the end; a burst may be conflated).
      expect(values.length).toBeGreaterThan(2);
    }
    const final = (await server.execute(BulkGetDocument, { id: action.id })).data?.bulkAction;
    expect(final).toMatchObject({ status: 'DONE', processed: 1000, changed: 1000, version: 12 });
    expect(final?.finishedAt).not.toBeNull();
    const counts = await server.sql`SELECT name, status, count(*)::int AS n FROM tasks GROUP BY name, status ORDER BY name`;
    expect(counts.map((r) => `${r.name}:${r.status}:${r.n}`)).toEqual(['demo.echo:CANCELLED:1000', 'demo.other:PENDING:20']);
    // A subscriber that comes after the end gets the final state and the end at once.
    const late = server.subscribeWs(BulkChangedDocument, { id: action.id });
    expect(await late.done).toBe('complete');
    expect(late.values.map((v) => v.bulkActionChanged.status)).toEqual(['DONE']);
  });
});

describe('retryTasks', () => {
  it('retries the tasks matching when it was created, each once, and leaves tasks that match only later alone', async () => {
    await insertBulkTasks(server.sql, { count: 600, status: 'FAILED', name: 'demo.echo', runAfter: far() });
    const created = await server.execute(BulkRetryDocument, { filter: { status: ['FAILED'] } });
    const action = created.data?.retryTasks;
    if (!action) throw new Error(`no action: ${JSON.stringify(created.errors)}`);
    expect(action).toMatchObject({ kind: 'RETRY', status: 'RUNNING', matched: 600 });
    // FAILED after the action was created: it matches the filter, but is not one of the action's tasks.
    await insertBulkTasks(server.sql, { count: 40, status: 'FAILED', name: 'demo.late', runAfter: far() });
    const ws = server.subscribeWs(BulkChangedDocument, { id: action.id });
    await startBulkRunner(250);
    expect(await ws.done).toBe('complete');
    expectProgress(ws.values.map((v) => v.bulkActionChanged), 600, 600);
    const counts = await server.sql`SELECT name, status, count(*)::int AS n FROM tasks GROUP BY name, status ORDER BY name`;
    expect(counts.map((r) => `${r.name}:${r.status}:${r.n}`)).toEqual(['demo.echo:PENDING:600', 'demo.late:FAILED:40']);
    const [events] = await server.sql`SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS tasks FROM task_events WHERE type = 'RETRIED'`;
    expect(events).toMatchObject({ n: 600, tasks: 600 });
  });

  it('is DONE at once with nothing matched', async () => {
    const created = await server.execute(BulkRetryDocument, { filter: { name: 'nothing.matches' } });
    expect(created.data?.retryTasks).toMatchObject({ status: 'DONE', matched: 0, processed: 0 });
    const ws = server.subscribeWs(BulkChangedDocument, { id: created.data?.retryTasks.id ?? '' });
    expect(await ws.done).toBe('complete');
    expect(ws.values.map((v) => v.bulkActionChanged.status)).toEqual(['DONE']);
  });

  it("is a Node: node(id:) answers it as a BulkAction (Relay's refetch)", async () => {
    const created = await server.execute(BulkRetryDocument, { filter: { name: 'nothing.matches' } });
    const id = created.data?.retryTasks.id ?? '';
    const read = await server.post({ query: 'query ($id: ID!) { node(id: $id) { __typename id ... on BulkAction { kind status } } }', variables: { id } });
    expect(read.data).toEqual({ node: { __typename: 'BulkAction', id, kind: 'RETRY', status: 'DONE' } });
  });
});

describe('errors', () => {
  it('answers an unknown action with null (query) and NOT_FOUND (subscription), a malformed id and filter with BAD_USER_INPUT', async () => {
    const unknown = '0190a5f0-0000-7000-8000-000000000000';
    expect((await server.execute(BulkGetDocument, { id: unknown })).data?.bulkAction).toBeNull();
    expect(onlyError(await server.execute(BulkGetDocument, { id: 'nope' })).extensions?.code).toBe('BAD_USER_INPUT');
    for (const subscribe of [server.subscribeWs.bind(server), server.subscribeSse.bind(server)]) {
      const sub = subscribe(BulkChangedDocument, { id: unknown });
      await sub.done;
      expect(sub.values).toEqual([]);
      expect(sub.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      const malformed = subscribe(BulkChangedDocument, { id: 'nope' });
      await malformed.done;
      expect(malformed.errors.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'id']]);
    }
    const bad = onlyError(await server.execute(BulkCancelDocument, { filter: { name: 'a\u0000b' } }));
    expect(bad.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.name' });
    const [row] = await server.sql`SELECT count(*)::int AS n FROM bulk_actions`;
    expect(row?.n).toBe(0);
  });
});
