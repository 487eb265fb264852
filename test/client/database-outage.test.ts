import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chain, createClient, type Task, type TaskEvent, type TaskwireClient, type Workflow } from '../../src/client/index.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { startProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { drain } from '../helpers/drain.js';

// The server's database goes away for a while (as in a restart): every connection of the
// server is cut and new ones are refused (ALLOW_CONNECTIONS false, the backends terminated), so
// the server answers DATABASE_UNAVAILABLE ("nothing was done, try again") until it is back. A
// cheap stand-in for test/reliability/database-restart.test.ts's stopped PostgreSQL: only this
// file's database is closed, no other test file's.

const RETRY = { attempts: 30, baseMs: 20, maxMs: 200 };

/** Answers over HTTP that said DATABASE_UNAVAILABLE: the clients' reads being refused, and asked again. */
let refused = 0;
const countingFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  if ((await res.clone().text()).includes('"DATABASE_UNAVAILABLE"')) refused += 1;
  return res;
};

let server: TestServer;
let client: TaskwireClient;
let gates: Gates;
let admin: postgres.Sql;
let database: string;

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: gates.tasks, runner: {} });
  client = createClient({ url: server.url, retry: RETRY, fetch: countingFetch });
  admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
  database = new URL(server.database.url).pathname.slice(1);
});

afterAll(async () => {
  await openDatabase();
  await client?.close();
  await server?.close();
  await admin?.end();
});

/** Cuts every session of the server's database and refuses new ones (55000), as a database restarting would. */
async function closeDatabase(): Promise<void> {
  await admin.unsafe(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
  await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${database} AND pid <> pg_backend_pid()`;
}

async function openDatabase(): Promise<void> {
  if (admin && database) await admin.unsafe(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
}

const versionsOf = (items: { version: number }[]): number[] => items.map((i) => i.version);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const codeOf = (error: unknown): unknown => (error as { code?: unknown } | undefined)?.code;

describe('watch, wait, events, feed and watchWorkflow while the database is away', () => {
  it('retry DATABASE_UNAVAILABLE with the retry backoff and resume by version: no gap, no repeat', { timeout: 60_000 }, async () => {
    const proxy = await startProxy(Number(new URL(server.url).port));
    const viaProxy = createClient({ url: proxy.url, retry: RETRY, fetch: countingFetch });
    try {
      const feedFrom = await client.feedCursor();
      const task = await client.enqueue('test.steps', ['outage', 2]);
      const events = drain<TaskEvent>(viaProxy.events(task.id));
      const replayed = drain<Task>(viaProxy.watch(task.id, { afterVersion: 0 }));
      const current = drain<Task>(viaProxy.watch(task.id));
      const waited = drain((async function* () {
        yield await viaProxy.wait<{ steps: number }>(task.id);
      })());
      const workflow = await client.enqueueWorkflow(chain({ name: 'test.gate', args: ['outage:wf'] }));
      const watchedWorkflow = drain<Workflow>(viaProxy.watchWorkflow(workflow.id));
      const stopFeed = new AbortController();
      const feed = drain<TaskEvent>(viaProxy.feed({ filter: { name: 'test.steps' }, after: feedFrom, signal: stopFeed.signal }));
      await waitFor(() => events.seen.some((e) => e.type === 'STARTED') && replayed.seen.some((s) => s.status === 'RUNNING'), { message: 'STARTED' });
      await waitFor(() => watchedWorkflow.seen.length > 0, { message: 'the workflow watch to start' });
      const stats = server.app.logStats;
      await waitFor(() => stats.subscriptions === 5, { message: 'the five event streams to subscribe' });

      await closeDatabase();
      try {
        // A single call is not retried: the server's answer, for the caller to decide on.
        const during = await client.get(task.id).catch((error: unknown) => error);
        expect(codeOf(during)).toBe('DATABASE_UNAVAILABLE');
        // A watch and a wait begun now: their first read of the task is answered DATABASE_UNAVAILABLE.
        const late = drain<Task>(client.watch(task.id));
        const lateWait = drain((async function* () {
          yield await client.wait<{ steps: number }>(task.id);
        })());
        // The streams' socket drops: graphql-ws reconnects and subscribes again, and each new
        // subscription is refused with DATABASE_UNAVAILABLE while the database is away.
        proxy.cut();
        await waitFor(() => stats.subscriptions === 0, { message: 'the cut subscriptions to end' });
        proxy.reopen();
        // Long enough that every kind of stream has been refused and asked again: the watch and the
        // wait begun during the outage re-read the task, the cut streams check it after each refusal.
        const refusedBefore = refused;
        // 30 s, not the default 10: a CI run (2 cores, test files side by side) once saw fewer than 6 in 10 s.
        await waitFor(() => refused >= refusedBefore + 6, { timeoutMs: 30_000, message: 'the reads to be refused and asked again while the database is away' });
        for (const stream of [events, replayed, current, waited, late, lateWait, watchedWorkflow, feed]) expect(stream.failure()).toBeUndefined();

        await openDatabase();
        for (const gate of ['outage:1', 'outage:2', 'outage:done', 'outage:wf']) gates.open(gate);
        await Promise.all([events.done, replayed.done, current.done, waited.done, late.done, lateWait.done, watchedWorkflow.done]);
        // The feed has no end: it goes on, subscribed again from its last cursor after each refusal.
        await waitFor(() => feed.seen.some((e) => e.taskId === task.id && e.type === 'SUCCEEDED'), { message: 'the feed to reach the end of the task' });
        stopFeed.abort();
        await feed.done.catch(() => undefined);
        expect(feed.seen.filter((e) => e.taskId === task.id).map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);

        expect(events.seen.map((e) => [e.version, e.type])).toEqual([
          [1, 'ENQUEUED'],
          [2, 'STARTED'],
          [3, 'PROGRESS'],
          [4, 'PROGRESS'],
          [5, 'SUCCEEDED'],
        ]);
        expect(versionsOf(replayed.seen)).toEqual([1, 2, 3, 4, 5]);
        expect(replayed.seen.map((s) => s.status)).toEqual(['PENDING', 'RUNNING', 'RUNNING', 'RUNNING', 'SUCCEEDED']);
        for (const states of [current.seen, late.seen]) {
          expect(versionsOf(states)).toEqual(range(states[0]!.version, 5));
          expect(states.at(-1)).toMatchObject({ status: 'SUCCEEDED', returnValue: { steps: 2 } });
        }
        expect(waited.seen).toEqual([{ steps: 2 }]);
        expect(lateWait.seen).toEqual([{ steps: 2 }]);
        // Versions of a workflow may be skipped across a resubscription, never repeated.
        const workflowVersions = versionsOf(watchedWorkflow.seen);
        expect(workflowVersions).toEqual([...new Set(workflowVersions)].sort((a, b) => a - b));
        expect(watchedWorkflow.seen.at(-1)?.status).toBe('SUCCEEDED');
      } finally {
        await openDatabase();
      }
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });
});
