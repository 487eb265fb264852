import { createClient as createSseClient, type Client as SseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';
import { buildApp, type App } from '../../src/server/app.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

// A graceful stop of a server (SIGTERM, app.stop()) while a task runs, watched by plain clients:
// the npm graphql-ws client (its default retry, 5 attempts) and graphql-sse's (distinct
// connections). The stop must not say `complete` for subscriptions that have not ended: those
// clients take it as the end and never subscribe again. Then a new server on the same address
// and database (a deploy's replacement process: its own pool and LISTEN), where they must
// subscribe again by themselves and see the task end, and only then `complete`.
const STATUS = 'subscription($id: ID!) { taskStatusChanged(id: $id) { status version } }';
const EVENTS = 'subscription($id: ID!) { taskEvents(id: $id) { version type status } }';
type Status = { taskStatusChanged: { status: string; version: number } };
type Event = { taskEvents: { version: number; type: string; status: string } };

let server: TestServer;
let gates: Gates;
let depsB: Deps | undefined;
let appB: App | undefined;
const wsClients: WsClient[] = [];
const sseClients: SseClient[] = [];

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: gates.tasks, runner: {} });
});

afterAll(async () => {
  await Promise.all(wsClients.map((c) => c.dispose()));
  for (const c of sseClients) c.dispose();
  await appB?.stop();
  await depsB?.close();
  await server?.close();
});

/** What one plain client's subscription saw: its data in order, and when (after which datum) it completed. */
interface Watch<T> {
  values: T[];
  /** How many values had come when `complete` came; undefined: not (yet) completed. */
  completedAfter: number | undefined;
  errors: unknown[];
}

function watch<T>(subscribe: (sink: { next(r: { data?: unknown }): void; error(e: unknown): void; complete(): void }) => unknown): Watch<T> {
  const w: Watch<T> = { values: [], completedAfter: undefined, errors: [] };
  subscribe({
    next: (result) => {
      if (result.data) w.values.push(result.data as T);
    },
    error: (error) => void w.errors.push(error),
    complete: () => {
      w.completedAfter = w.values.length;
    },
  });
  return w;
}

describe('a graceful stop under plain graphql-ws and graphql-sse clients', () => {
  it('says no `complete` for a task still running; the clients subscribe again on the next server and see it end', { timeout: 60_000 }, async () => {
    const port = Number(new URL(server.url).port);
    const wsUrl = server.url.replace(/^http/, 'ws');
    const closes: number[] = [];
    const ws = createWsClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 5,
      on: { closed: (event) => void closes.push((event as { code: number }).code) },
    });
    wsClients.push(ws);
    const sse = createSseClient({ url: server.url, retryAttempts: 5 });
    sseClients.push(sse);

    const { data } = await server.post({
      query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }',
      variables: { input: { name: 'test.gate', args: ['graceful-stop'] } },
    });
    const id = (data as { enqueueTask: { task: { id: string } } }).enqueueTask.task.id;
    // Subscribed once it runs: every subscription's first state is RUNNING.
    await waitFor(async () => (await server.deps.queue.getTask(id))?.status === 'RUNNING', { message: 'the task to run' });
    const wsStatus = watch<Status>((sink) => ws.subscribe({ query: STATUS, variables: { id } }, sink));
    const wsEvents = watch<Event>((sink) => ws.subscribe({ query: EVENTS, variables: { id } }, sink));
    const sseStatus = watch<Status>((sink) => sse.subscribe({ query: STATUS, variables: { id } }, sink));
    const running = (): boolean =>
      wsStatus.values.some((v) => v.taskStatusChanged.status === 'RUNNING') &&
      wsEvents.values.some((v) => v.taskEvents.type === 'STARTED') &&
      sseStatus.values.some((v) => v.taskStatusChanged.status === 'RUNNING');
    await waitFor(running, { timeoutMs: 15_000, message: 'every subscription to see the task RUNNING' });

    const a = server.app;
    await a.stop();
    // Server A is gone and the task still runs: nothing may have said its subscriptions ended.
    expect([wsStatus, wsEvents, sseStatus].map((w) => w.completedAfter)).toEqual([undefined, undefined, undefined]);
    await waitFor(() => closes.length > 0, { message: 'the graphql-ws socket to close' });
    expect(closes[0]).toBe(1012);

    // The replacement: a new server, its own pool and LISTEN, on the same address and database.
    depsB = await createDeps(server.config, { databaseUrl: server.database.url, log: silentLogger, registry: server.deps.registry });
    appB = buildApp(depsB);
    await appB.start(port, '127.0.0.1');
    const b = appB;
    // Back by themselves (graphql-ws and graphql-sse back off 1–4 s before their first retry).
    await waitFor(() => b.stats.subscriptions === 2 && b.logStats.subscriptions === 1, {
      timeoutMs: 20_000,
      message: 'the three subscriptions to be renewed on server B',
    });
    expect([wsStatus, wsEvents, sseStatus].map((w) => w.completedAfter)).toEqual([undefined, undefined, undefined]);

    gates.open('graceful-stop');
    await waitFor(() => [wsStatus, wsEvents, sseStatus].every((w) => w.completedAfter !== undefined), {
      timeoutMs: 15_000,
      message: 'every subscription to end after the task did',
    });
    // Each ended on the terminal state, with `complete` right after it (its natural end), and no error.
    expect(wsStatus.values.at(-1)?.taskStatusChanged.status).toBe('SUCCEEDED');
    expect(sseStatus.values.at(-1)?.taskStatusChanged.status).toBe('SUCCEEDED');
    expect(wsEvents.values.at(-1)?.taskEvents).toMatchObject({ type: 'SUCCEEDED', status: 'SUCCEEDED' });
    for (const w of [wsStatus, wsEvents, sseStatus]) {
      expect(w.completedAfter).toBe(w.values.length);
      expect(w.errors).toEqual([]);
    }
  });
});
