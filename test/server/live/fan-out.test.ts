import { describe, expect, it } from 'vitest';
import { EnqueueTaskDocument, TaskChangesDocument, TaskVersionDocument, type TaskVersionSubscription } from '../../generated/graphql.js';
import { useGatedTestServer } from '../../helpers/graphql.js';
import type { Stream } from '../../helpers/subscriptions.js';
import { waitFor } from '../../helpers/wait.js';
import { EVENTS_CHANNEL } from '../../../src/queue/events.js';
import { uuidv7 } from '../../../src/queue/uuid.js';

const env = useGatedTestServer();
const { gates } = env;

async function enqueue(name: string, args: unknown[]): Promise<string> {
  const res = await env.server.execute(EnqueueTaskDocument, { input: { name, args } });
  return res.data!.enqueueTask.task.id;
}

const versionsAndStatuses = (s: Stream<TaskVersionSubscription>) => s.values.map((v) => [v.taskStatusChanged.version, v.taskStatusChanged.status]);

describe('subscription fan-out', () => {
  it('1,000 graphql-ws subscribers of one task (10 connections) see every change; each change is read once', async () => {
    const id = await enqueue('test.steps', ['fan', 1]);
    const clients = Array.from({ length: 10 }, () => env.server.wsClient());
    const started = performance.now();
    const streams = Array.from({ length: 1000 }, (_, i) => env.server.subscribeWs(TaskVersionDocument, { id }, clients[i % 10]));
    await Promise.all(streams.map((s) => s.waitFor((v) => v.taskStatusChanged.status === 'PENDING', 30_000)));
    const subscribedMs = performance.now() - started;
    expect(env.server.app.stats.subscriptions).toBe(1000);

    const before = { ...env.server.app.stats };
    const changeStarted = performance.now();
    await env.server.startRunner();
    await Promise.all(streams.map((s) => s.waitFor((v) => v.taskStatusChanged.status === 'RUNNING')));
    const runningMs = performance.now() - changeStarted;
    gates.open('fan:1');
    await Promise.all(streams.map((s) => s.waitFor((v) => v.taskStatusChanged.version === 3)));
    const terminalStarted = performance.now();
    gates.open('fan:done');
    // Each stream completes (not an error) after the terminal state.
    expect(new Set(await Promise.all(streams.map((s) => s.done)))).toEqual(new Set(['complete']));
    const terminalMs = performance.now() - terminalStarted;

    for (const s of streams) {
      expect(versionsAndStatuses(s)).toEqual([
        [1, 'PENDING'],
        [2, 'RUNNING'],
        [3, 'RUNNING'],
        [4, 'SUCCEEDED'],
      ]);
    }
    const after = env.server.app.stats;
    // Three changes after subscribing (claimed, progress, succeeded): three reads of one row each.
    expect(after.readQueries - before.readQueries).toBe(3);
    expect(after.changeReadQueries - before.changeReadQueries).toBe(3);
    expect(after.taskReads - before.taskReads).toBe(3);
    expect(after.delivered - before.delivered).toBe(3000);
    await waitFor(() => env.server.app.stats.subscriptions === 0, { message: 'subscriptions to close' });
    console.log(
      `fan-out: 1,000 graphql-ws subscribers on 10 connections got their first state in ${subscribedMs.toFixed(0)} ms ` +
        `(${before.snapshotQueries} first-state queries); RUNNING reached all in ${runningMs.toFixed(0)} ms (incl. worker start), ` +
        `the terminal event in ${terminalMs.toFixed(0)} ms; task reads per change: ${(after.taskReads - before.taskReads) / 3}`,
    );
  });

  it('subscribers joining while a task changes fast each see increasing versions, ending with the terminal one', async () => {
    await env.server.runner?.stop();
    const id = await enqueue('demo.progress', [15, 5]);
    const streams: Stream<TaskVersionSubscription>[] = [];
    const runner = env.server.deps.createRunner({ pollIntervalMs: 50 });
    await runner.start();
    // Join during the run: each subscriber's first state races the changes.
    for (let i = 0; i < 40; i++) {
      streams.push(i % 2 ? env.server.subscribeSse(TaskVersionDocument, { id }) : env.server.subscribeWs(TaskVersionDocument, { id }));
      if (i % 8 === 7) await streams.at(-1)!.waitFor(() => true);
    }
    expect(new Set(await Promise.all(streams.map((s) => s.done)))).toEqual(new Set(['complete']));
    await runner.stop();
    for (const s of streams) {
      const versions = s.values.map((v) => v.taskStatusChanged.version);
      for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1]!);
      expect(s.values.at(-1)?.taskStatusChanged).toMatchObject({ status: 'SUCCEEDED', version: 18 }); // 1 + claim + 15 progress + done
    }
  });

  it('a first state read before its notification arrives reaches filter subscribers too, once', async () => {
    const open = env.server.app.stats.subscriptions;
    const echoes = env.server.subscribeWs(TaskChangesDocument, { filter: { name: 'demo.echo' } });
    await waitFor(() => env.server.app.stats.subscriptions === open + 1, { message: 'the filter subscription' });
    const sql = env.server.database.db.sql;
    // A task whose notification is late: written without NOTIFY (no statement of the core does
    // that), then a subscription by id reads its first state before the notification is sent.
    const [row] = await sql`INSERT INTO tasks (id, name, args) VALUES (${uuidv7()}, 'demo.echo', '["late"]') RETURNING id`;
    const id = String(row!.id);
    const byId = env.server.subscribeWs(TaskVersionDocument, { id });
    await byId.waitFor((v) => v.taskStatusChanged.version === 1);
    // Filters get that first state when its notification comes (a task that ended long ago, read
    // for a new subscriber by id, must not be handed to them again: hub.test.ts).
    await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${id}:1:PENDING`})`;
    await echoes.waitFor((v) => v.taskStatusChanged.id === id);
    await sql`UPDATE tasks SET status = 'CANCELLED', finished_at = now(), version = 2 WHERE id = ${id}`;
    await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${id}:2:CANCELLED`})`;
    await echoes.waitFor((v) => v.taskStatusChanged.id === id && v.taskStatusChanged.version === 2);
    expect(echoes.values.filter((v) => v.taskStatusChanged.id === id).map((v) => v.taskStatusChanged.version)).toEqual([1, 2]);
    expect(await byId.done).toBe('complete');
    echoes.unsubscribe();
    await waitFor(() => env.server.app.stats.subscriptions === open, { message: 'subscriptions to close' });
  });

  it('re-reads watched tasks after the listening connection is lost and comes back; unchanged ones are not sent twice', async () => {
    const open = env.server.app.stats.subscriptions;
    const echoes = env.server.subscribeWs(TaskChangesDocument, { filter: { name: 'demo.echo' } });
    // A filter subscription registers as soon as the server has it (it has no first state to wait for).
    await waitFor(() => env.server.app.stats.subscriptions === open + 1, { message: 'the filter subscription' });
    const changed = await enqueue('demo.echo', ['changed']);
    const unchanged = await enqueue('demo.echo', ['unchanged']);
    const stream = env.server.subscribeWs(TaskVersionDocument, { id: changed });
    const quiet = env.server.subscribeWs(TaskVersionDocument, { id: unchanged });
    await Promise.all([stream, quiet].map((s) => s.waitFor((v) => v.taskStatusChanged.version === 1)));
    await echoes.waitFor((v) => v.taskStatusChanged.id === unchanged);
    // A filter subscription that has not seen either task, as one whose bounded memory of versions
    // (10,000 tasks) moved on: the re-read must not bring back what it was handed before.
    const late = env.server.subscribeWs(TaskChangesDocument, { filter: { name: 'demo.echo' } });
    await waitFor(() => env.server.app.stats.subscriptions === open + 4, { message: 'the second filter subscription' });
    const { reconnects } = env.server.app.stats;
    const sql = env.server.database.db.sql;
    // A change whose notification is lost: written without NOTIFY, as if sent while nobody listened.
    // A direct UPDATE on purpose (no statement of the core changes a task without notifying); it
    // also leaves no event-log row, which nothing here reads.
    await sql`UPDATE tasks SET status = 'CANCELLED', cancel_requested = true, finished_at = now(), version = version + 1 WHERE id = ${changed}`;
    // The pool's one listening connection: its last statement was a (UN)LISTEN.
    const killed = await sql`
      SELECT pg_terminate_backend(pid, 5000) AS done FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~* '^(un)?listen '`;
    expect(killed.map((r) => r.done)).toEqual([true]);
    expect(await stream.done).toBe('complete');
    await echoes.waitFor((v) => v.taskStatusChanged.id === changed && v.taskStatusChanged.status === 'CANCELLED');
    await late.waitFor((v) => v.taskStatusChanged.id === changed && v.taskStatusChanged.status === 'CANCELLED');
    expect(env.server.app.stats.reconnects).toBe(reconnects + 1);
    expect(versionsAndStatuses(stream)).toEqual([
      [1, 'PENDING'],
      [2, 'CANCELLED'],
    ]);
    // The same resync read returned the unchanged task: nobody gets its version again.
    expect(versionsAndStatuses(quiet)).toEqual([[1, 'PENDING']]);
    expect(echoes.values.map((v) => [v.taskStatusChanged.id, v.taskStatusChanged.version])).toEqual([
      [changed, 1],
      [unchanged, 1],
      [changed, 2],
    ]);
    expect(late.values.map((v) => [v.taskStatusChanged.id, v.taskStatusChanged.version])).toEqual([[changed, 2]]);
    quiet.unsubscribe();
    echoes.unsubscribe();
    late.unsubscribe();
  });
});
