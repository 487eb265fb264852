import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { EVENTS_CHANNEL } from '../../../src/queue/events.js';
import { uuidv7 } from '../../../src/queue/uuid.js';
import { WORKFLOWS_CHANNEL } from '../../../src/queue/workflows/channel.js';
import { createTaskEventHub, type TaskEventHub } from '../../../src/server/live/hub.js';
import { createOnDemandListener } from '../../../src/server/live/on-demand-listener.js';
import type { Sql } from '../../../src/db/client.js';
import { WfChangedDocument } from '../../generated/graphql.js';
import { createTestApp, startTestServer, type TestApp } from '../../helpers/app.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * The live hubs LISTEN only while someone watches (docs/decisions.md, "The server listens only
 * while someone watches"). What PostgreSQL sees: the pool's listening connection, by its last
 * statement (a LISTEN or an UNLISTEN; postgres.js opens it with the first LISTEN).
 */
async function listenStatements(sql: Sql): Promise<string[]> {
  const rows = await sql`
    SELECT query FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~* '^(un)?listen '`;
  return rows.map((r) => String(r.query));
}

const later = (): Date => new Date(Date.now() + 3_600_000);

describe('a hub nobody watches', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(async () => {
    await app?.close();
  });
  /** A hub that UNLISTENs as soon as nobody watches (grace 0), so the tests need not wait 30 s. */
  const makeHub = async (): Promise<TaskEventHub> => {
    const hub = createTaskEventHub({ sql: app.sql, queue: app.deps.queue, log: silentLogger, listenIdleMs: 0 });
    await hub.start();
    return hub;
  };
  const unlistened = (hub: TaskEventHub): Promise<unknown> =>
    Promise.all([
      waitFor(() => hub.stats.listening === 0, { message: 'the hub to stop listening' }),
      waitFor(async () => (await listenStatements(app.sql)).join() === `unlisten "${EVENTS_CHANNEL}"`, { message: 'the UNLISTEN' }),
    ]);

  it('LISTENs from the first subscriber until the grace after the last; a subscriber after that LISTENs afresh and gets its changes', async () => {
    const hub = await makeHub();
    try {
      // Started, and nobody watches: no LISTEN, not even the connection for one.
      expect(hub.stats).toMatchObject({ listening: 0, listens: 0 });
      expect(await listenStatements(app.sql)).toEqual([]);

      const queue = 'on-demand';
      const changes = await hub.watchTasks({ queue });
      // In effect when the subscribe call resolves: a change made right after it is announced.
      expect(hub.stats).toMatchObject({ listening: 1, listens: 1 });
      expect(await listenStatements(app.sql)).toEqual([`listen "${EVENTS_CHANNEL}"`]);
      const first = await app.deps.queue.enqueue({ name: 'demo.echo', queue, runAfter: later() });
      expect((await changes.next()).value).toMatchObject({ id: first.id, status: 'PENDING' });
      await changes.return?.();
      await unlistened(hub);

      // Not heard: nobody listens (PostgreSQL sends it to no one, and no callback is left).
      const events = hub.stats.events;
      const second = await app.deps.queue.enqueue({ name: 'demo.echo', queue, runAfter: later() });
      const byId = await hub.watchTask(second.id);
      expect(hub.stats).toMatchObject({ listening: 1, listens: 2 });
      expect((await byId.next()).value).toMatchObject({ id: second.id, version: 1, status: 'PENDING' });
      await app.deps.queue.cancelTask(second.id);
      expect((await byId.next()).value).toMatchObject({ id: second.id, status: 'CANCELLED' });
      expect(hub.stats.events - events).toBe(1);
      // Its terminal state ended the stream: nobody watches again.
      await unlistened(hub);
      await app.deps.queue.cancelTask(first.id);
    } finally {
      await hub.close();
    }
    // Closed without a listener: it stays so, and refuses subscribers.
    expect(hub.stats.listening).toBe(0);
    await expect(hub.watchTasks({})).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });

  it('shares one LISTEN between first subscribers of every kind asking together; each gets the change made right after', async () => {
    const hub = await makeHub();
    try {
      const queue = 'on-demand-kinds';
      const task = await app.deps.queue.enqueue({ name: 'demo.echo', queue, runAfter: later() });
      const [byId, byFilter, log, feed] = await Promise.all([
        hub.watchTask(task.id),
        hub.watchTasks({ queue }),
        hub.watchTaskEvents(task.id, 1, []),
        hub.watchEventFeed({ queue }, null),
      ]);
      expect(hub.stats).toMatchObject({ listening: 1, listens: 1 });
      expect((await byId.next()).value).toMatchObject({ version: 1 });
      await app.deps.queue.cancelTask(task.id);
      expect((await byId.next()).value).toMatchObject({ version: 2, status: 'CANCELLED' });
      expect((await byFilter.next()).value).toMatchObject({ id: task.id, version: 2 });
      expect((await log.next()).value).toMatchObject({ taskId: task.id, version: 2, type: 'CANCELLED' });
      // The feed starts at the cluster's horizon: the enqueue's event may come first when a
      // transaction older than it was still running elsewhere (another test file's database).
      let fromFeed = (await feed.next()).value;
      if (fromFeed?.status === 'PENDING') fromFeed = (await feed.next()).value;
      expect(fromFeed).toMatchObject({ taskId: task.id, version: 2, status: 'CANCELLED' });
      // Held while any of them remains, the event log's included.
      await Promise.all([byFilter.return?.(), feed.return?.()]);
      expect(hub.stats.listening).toBe(1);
      // The task log ends after the terminal event: then nobody watches.
      expect((await log.next()).done).toBe(true);
      await unlistened(hub);
    } finally {
      await hub.close();
    }
  });

  it('UNLISTENs when idle also after the listening connection was lost and came back', async () => {
    const hub = await makeHub();
    try {
      const task = await app.deps.queue.enqueue({ name: 'demo.echo', runAfter: later() });
      const byId = await hub.watchTask(task.id);
      expect((await byId.next()).value).toMatchObject({ version: 1 });
      const { reconnects } = hub.stats;
      const killed = await app.sql`
        SELECT pg_terminate_backend(pid, 5000) AS done FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~* '^(un)?listen '`;
      expect(killed.map((r) => r.done)).toEqual([true]);
      await waitFor(() => hub.stats.reconnects === reconnects + 1, { message: 'the LISTEN to come back' });
      await app.deps.queue.cancelTask(task.id);
      expect((await byId.next()).value).toMatchObject({ version: 2, status: 'CANCELLED' });
      // postgres.js re-added the callback after the reconnect: the UNLISTEN must still go out.
      await unlistened(hub);

      // Nothing reaches the hub meanwhile, and a new LISTEN hears each notification once.
      const events = hub.stats.events;
      await app.sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${uuidv7()}:1:PENDING`})`;
      const again = await hub.watchTasks({ queue: 'nothing-in-this-queue' });
      await app.sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${uuidv7()}:1:PENDING`})`;
      await waitFor(() => hub.stats.events > events, { message: 'the notification sent while listening' });
      expect(hub.stats.events - events).toBe(1);
      await again.return?.();
    } finally {
      await hub.close();
    }
    // close() with a listener UNLISTENs it.
    await waitFor(async () => (await listenStatements(app.sql)).join() === `unlisten "${EVENTS_CHANNEL}"`, { message: 'the UNLISTEN at close' });
  });
});

describe('the on-demand listener', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('counts a subscription being set up (join) as a watcher: a set-up that outlasts the grace keeps the LISTEN', async () => {
    const channel = `on_demand_${uuidv7().slice(-8)}`;
    const heard: string[] = [];
    // Grace 0 and nobody registered: only the join under way holds the LISTEN.
    const listener = createOnDemandListener({ sql: app.sql, channel, onNotify: (p) => heard.push(p), onGap: () => undefined, watchers: () => 0, idleMs: 0, log: silentLogger });
    try {
      const outcome = await listener.join(async () => {
        expect(listener.listening).toBe(true);
        // A slow set-up (a first read under load): many idle checks (every 1 ms here) pass meanwhile.
        const until = Date.now() + 100;
        while (Date.now() < until) await app.sql`SELECT 1`;
        await app.sql`SELECT pg_notify(${channel}, 'during the set-up')`;
        await waitFor(() => heard.length > 0, { message: 'the notification sent during the set-up' });
        return listener.listening;
      });
      expect(outcome).toBe(true);
      expect(heard).toEqual(['during the set-up']);
      // Then nobody: UNLISTEN.
      await waitFor(() => !listener.listening, { message: 'the listener to stop after the join' });
      expect(listener.listens).toBe(1);
    } finally {
      await listener.close();
    }
    await expect(listener.join(async () => 'late')).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });
});

describe('a server nobody watches', () => {
  it('holds no LISTEN until a subscription comes, and only on the channel that one needs', async () => {
    const server = await startTestServer({ app: { listenIdleMs: 0 } });
    try {
      expect(await listenStatements(server.sql)).toEqual([]);
      expect([server.app.stats.listening, server.app.workflowStats.listening]).toEqual([0, 0]);
      const workflow = await server.deps.queue.workflows.enqueue({ steps: [{ ref: 'a', task: { name: 'demo.echo', runAfter: later() } }] });
      const stream = server.subscribeWs(WfChangedDocument, { id: workflow.id });
      await stream.waitFor((v) => v.workflowChanged.version === workflow.version);
      expect([server.app.stats.listening, server.app.workflowStats.listening]).toEqual([0, 1]);
      expect(await listenStatements(server.sql)).toEqual([`listen "${WORKFLOWS_CHANNEL}"`]);
      stream.unsubscribe();
      await waitFor(() => server.app.workflowStats.listening === 0, { message: 'the workflow hub to stop listening' });
      await waitFor(async () => (await listenStatements(server.sql)).join() === `unlisten "${WORKFLOWS_CHANNEL}"`, { message: 'the UNLISTEN' });
    } finally {
      await server.close();
    }
  });
});
