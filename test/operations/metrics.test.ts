import { connect } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp, type App } from '../../src/server/app.js';
import type { Runner } from '../../src/worker/runner.js';
import { insertTask, setEnqueuedAt, waitForStatus } from '../helpers/factories.js';
import { FAST_RUNNER, startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';
import { readMetrics, sampleValue, type Families } from './metric-values.js';

let server: TestServer;
let runner: Runner;
let app: App;
let base: string;

beforeAll(async () => {
  server = await startTestServer({ runner: false });
  // Only the default queue: tasks elsewhere stay PENDING, for the queue depth and age.
  runner = server.deps.createRunner({ ...FAST_RUNNER, queues: ['default'] });
  // A short idle grace, so that the listening gauge is seen to fall back to 0.
  app = buildApp(server.deps, { runner, listenIdleMs: 100 });
  const { url } = await app.start(0, '127.0.0.1');
  base = url.slice(0, -'/graphql'.length);
  await runner.start();
});
afterAll(async () => {
  await runner?.stop();
  await app?.stop();
  await server?.close();
});

/** What `/metrics` shows, as data: the app's registry (the HTTP text itself: the first test). */
const scrape = (): Promise<Families> => readMetrics(app.metrics);

async function metricsText(): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return res.text();
}

async function enqueue(input: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }', variables: { input } }),
  });
  const body = (await res.json()) as { data: { enqueueTask: { task: { id: string } } } };
  return body.data.enqueueTask.task.id;
}

const value = (f: Families, family: string, labels: Record<string, string> = {}, series?: string): number =>
  sampleValue(f, family, labels, series) ?? 0;

describe('GET /metrics', () => {
  it('serves every family as Prometheus text, HELP and TYPE included, with the documented types', async () => {
    const families = await scrape();
    const text = await metricsText();
    for (const f of families.values()) {
      expect(text).toContain(`# HELP ${f.name} `);
      expect(text).toContain(`# TYPE ${f.name} ${f.type}\n`);
    }
    const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      taskwire_tasks_enqueued_total: 'counter',
      taskwire_tasks_started_total: 'counter',
      taskwire_tasks_finished_total: 'counter',
      taskwire_task_failures_total: 'counter',
      taskwire_task_duration_seconds: 'histogram',
      taskwire_queue_tasks: 'gauge',
      taskwire_queue_oldest_pending_age_seconds: 'gauge',
      taskwire_queue_oldest_running_age_seconds: 'gauge',
      taskwire_queue_stats_up: 'gauge',
      taskwire_subscriptions_open: 'gauge',
      taskwire_graphql_operations_total: 'counter',
      taskwire_task_events_received_total: 'counter',
      taskwire_subscription_reads_total: 'counter',
      taskwire_subscription_deliveries_total: 'counter',
      taskwire_events_listener_reconnects_total: 'counter',
      taskwire_worker_running_tasks: 'gauge',
      taskwire_worker_slots: 'gauge',
      taskwire_listening: 'gauge',
      taskwire_maintenance_rounds_total: 'counter',
      taskwire_maintenance_last_success_timestamp_seconds: 'gauge',
      taskwire_tasks_deleted_total: 'counter',
      taskwire_schedule_occurrences_total: 'counter',
      taskwire_bulk_action_tasks_total: 'counter',
      taskwire_http_responses_total: 'counter',
      taskwire_clock_offset_seconds: 'gauge',
      // prom-client's default process metrics (docs/operations.md lists what replaced ours).
      process_cpu_user_seconds_total: 'counter',
      process_cpu_system_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      process_open_fds: 'gauge',
      process_start_time_seconds: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
      nodejs_heap_size_total_bytes: 'gauge',
      nodejs_eventloop_lag_p99_seconds: 'gauge',
      nodejs_version_info: 'gauge',
    });
    expect(value(families, 'taskwire_queue_stats_up')).toBe(1);
    // This host and its database share one clock: the offset is the reading's error, well under a second.
    expect(Math.abs(value(families, 'taskwire_clock_offset_seconds'))).toBeLessThan(1);
    expect(value(families, 'process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    const start = value(families, 'process_start_time_seconds');
    // The process's start in seconds of wall-clock time. prom-client reads it once, when it is loaded, and a
    // test process runs file after file for minutes: a step of the machine's clock meanwhile (one of 17.7 s
    // was seen in a CI run) moves now, not it. So within minutes, not seconds (a unit or origin error is
    // off by far more).
    expect(Math.abs(start - (Date.now() - performance.now()) / 1000)).toBeLessThan(300);
    expect(value(families, 'taskwire_worker_running_tasks', { worker_id: runner.workerId })).toBe(0);
    expect(value(families, 'nodejs_version_info', { version: process.version })).toBe(1);
    // Nobody watches yet: no channel LISTENed on.
    for (const channel of ['taskwire_events', 'taskwire_workflows', 'taskwire_bulk']) expect(sampleValue(families, 'taskwire_listening', { channel })).toBe(0);
  });

  it('counts enqueued, started and finished tasks by name, queue and outcome, and times them', async () => {
    const before = await scrape();
    const ok = await Promise.all([enqueue({ name: 'math.copysign', args: [1, -1] }), enqueue({ name: 'math.copysign', args: [2, 1] })]);
    const failed = await enqueue({ name: 'demo.fail', args: ['on purpose'] });
    await Promise.all([...ok.map((id) => waitForStatus(server.deps, id, 'SUCCEEDED')), waitForStatus(server.deps, failed, 'FAILED')]);

    const delta = (f: Families, family: string, labels: Record<string, string>, series?: string): number =>
      value(f, family, labels, series) - value(before, family, labels, series);
    // The outcome is counted once the runner has recorded it, just after the row changes.
    const after = await waitFor(
      async () => {
        const f = await scrape();
        return delta(f, 'taskwire_tasks_finished_total', { name: 'demo.fail', outcome: 'failed' }) === 1 &&
          delta(f, 'taskwire_tasks_finished_total', { name: 'math.copysign', outcome: 'succeeded' }) === 2
          ? f
          : undefined;
      },
      { message: 'the finished counters to move' },
    );
    const copysign = { name: 'math.copysign', queue: 'default' };
    expect(delta(after, 'taskwire_tasks_enqueued_total', copysign)).toBe(2);
    expect(delta(after, 'taskwire_tasks_enqueued_total', { name: 'demo.fail', queue: 'default' })).toBe(1);
    expect(delta(after, 'taskwire_tasks_started_total', copysign)).toBe(2);
    expect(delta(after, 'taskwire_tasks_started_total', { name: 'demo.fail', queue: 'default' })).toBe(1);
    expect(delta(after, 'taskwire_tasks_finished_total', { ...copysign, outcome: 'succeeded' })).toBe(2);
    // Failures also by what they threw (the error's name), not by the outcome alone.
    expect(delta(after, 'taskwire_task_failures_total', { name: 'demo.fail', queue: 'default', exception: 'DemoFailure' })).toBe(1);
    expect(delta(after, 'taskwire_task_failures_total', { name: 'math.copysign', queue: 'default' })).toBe(0);
    const histogram = 'taskwire_task_duration_seconds';
    expect(delta(after, histogram, { name: 'math.copysign' }, `${histogram}_count`)).toBe(2);
    expect(delta(after, histogram, { name: 'math.copysign', le: '+Inf' }, `${histogram}_bucket`)).toBe(2);
    expect(value(after, histogram, { name: 'math.copysign' }, `${histogram}_sum`)).toBeGreaterThan(0);
    // Everything took well under 10 s: the 10 s bucket holds them all.
    expect(delta(after, histogram, { name: 'math.copysign', le: '10' }, `${histogram}_bucket`)).toBe(2);
  });

  it('counts the GraphQL operations it answers by type and code: refusals too, which were in no metric', async () => {
    const post = async (body: unknown): Promise<void> => {
      const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await res.text();
    };
    const ops = 'taskwire_graphql_operations_total';
    const before = await scrape();
    await enqueue({ name: 'demo.echo', queue: 'parked' });
    await post({ query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }', variables: { input: { name: 'no.such.task' } } });
    await post({ query: '{ taskResult(id: "nope") { id } }' });
    await post({ query: '{ queueStats { queue } }' });
    await post({ query: '{ nope }' });
    await post({ query: '{ __typename ' });
    const after = await scrape();
    const delta = (labels: Record<string, string>): number => value(after, ops, labels) - value(before, ops, labels);
    expect(delta({ type: 'mutation', code: 'OK' })).toBe(1);
    expect(delta({ type: 'mutation', code: 'UNKNOWN_TASK' })).toBe(1);
    expect(delta({ type: 'query', code: 'BAD_USER_INPUT' })).toBe(1);
    expect(delta({ type: 'query', code: 'OK' })).toBe(1);
    expect(delta({ type: 'query', code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
    expect(delta({ type: 'unknown', code: 'GRAPHQL_PARSE_FAILED' })).toBe(1);
  });

  it('answers and counts a full disk as DATABASE_UNAVAILABLE (nothing stored), not as an unexpected error', async () => {
    // PostgreSQL refusing the insert as a full disk does (SQLSTATE 53100), on this file's database only.
    await server.sql.unsafe(`
      CREATE OR REPLACE FUNCTION refuse_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'could not extend file "base/16384/16385": No space left on device' USING ERRCODE = '53100';
      END $$;
      CREATE OR REPLACE TRIGGER refuse_disk_full BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_disk_full();`);
    try {
      const ops = 'taskwire_graphql_operations_total';
      const before = await scrape();
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation { enqueueTask(input: { name: "demo.echo", queue: "parked" }) { task { id } } }' }),
      });
      const body = (await res.json()) as { errors?: { message: string; extensions?: { code?: string } }[] };
      expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['DATABASE_UNAVAILABLE']);
      expect(body.errors?.[0]?.message).toMatch(/nothing was done/);
      const after = await scrape();
      const delta = (labels: Record<string, string>): number => value(after, ops, labels) - value(before, ops, labels);
      expect(delta({ type: 'mutation', code: 'DATABASE_UNAVAILABLE' })).toBe(1);
      expect(delta({ type: 'mutation', code: 'INTERNAL_SERVER_ERROR' })).toBe(0);
    } finally {
      await server.sql.unsafe('DROP TRIGGER IF EXISTS refuse_disk_full ON tasks');
    }
  });

  it('does not count an idempotent repeat as a new task', async () => {
    const before = await scrape();
    const first = await enqueue({ name: 'demo.echo', queue: 'parked', idempotencyKey: 'metrics-once' });
    const again = await enqueue({ name: 'demo.echo', queue: 'parked', idempotencyKey: 'metrics-once' });
    expect(again).toBe(first);
    const labels = { name: 'demo.echo', queue: 'parked' };
    expect(value(await scrape(), 'taskwire_tasks_enqueued_total', labels) - value(before, 'taskwire_tasks_enqueued_total', labels)).toBe(1);
  });

  it('does not count a repeat after this server\'s clock stepped back, nor a key repeated within one batch', async () => {
    const labels = { name: 'demo.echo', queue: 'parked-step' };
    const before = await scrape();
    await enqueue({ name: 'demo.echo', queue: 'parked-step', idempotencyKey: 'metrics-step' });
    // Only Date steps back two minutes (the count compared the task id's time with it: a repeat counted).
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() - 120_000 });
    try {
      await enqueue({ name: 'demo.echo', queue: 'parked-step', idempotencyKey: 'metrics-step' });
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: 'mutation($inputs: [EnqueueTaskInput!]!) { enqueueTasks(inputs: $inputs) { tasks { id } } }',
          variables: { inputs: [1, 2, 3].map(() => ({ name: 'demo.echo', queue: 'parked-step', idempotencyKey: 'metrics-batch' })) },
        }),
      });
      expect(res.status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
    expect(value(await scrape(), 'taskwire_tasks_enqueued_total', labels) - value(before, 'taskwire_tasks_enqueued_total', labels)).toBe(2);
  });

  it('escapes label values: a queue name is user input', async () => {
    const enqueued = 'we"ird \\ queue';
    const id = await enqueue({ name: 'demo.echo', queue: enqueued });
    expect(value(await scrape(), 'taskwire_tasks_enqueued_total', { name: 'demo.echo', queue: enqueued })).toBe(1);
    // A newline is refused in a queue name now; a database from before may hold one.
    const queue = `${enqueued}\nname`;
    await server.deps.db.sql`UPDATE tasks SET queue = ${queue} WHERE id = ${id}`;
    const f = await scrape();
    expect(value(f, 'taskwire_queue_tasks', { queue, status: 'PENDING' })).toBe(1);
    // Quote, backslash and newline escaped as the text format asks: one line, one sample.
    expect((await metricsText()).split('\n')).toContain('taskwire_queue_tasks{queue="we\\"ird \\\\ queue\\nname",status="PENDING"} 1');
  });

  it('reads queue depth by status and the oldest due task\'s age from the database at scrape time', async () => {
    const due = await enqueue({ name: 'demo.echo', queue: 'backlog' });
    await enqueue({ name: 'demo.echo', queue: 'backlog' });
    await enqueue({ name: 'demo.echo', queue: 'backlog', runAfter: new Date(Date.now() + 3_600_000).toISOString() });
    await setEnqueuedAt(server.deps.db.sql, due, new Date(Date.now() - 90_000));
    const f = await scrape();
    expect(value(f, 'taskwire_queue_tasks', { queue: 'backlog', status: 'PENDING' })).toBe(3);
    expect(value(f, 'taskwire_queue_tasks', { queue: 'backlog', status: 'RUNNING' })).toBe(0);
    const age = value(f, 'taskwire_queue_oldest_pending_age_seconds', { queue: 'backlog' });
    expect(age).toBeGreaterThanOrEqual(90);
    expect(age).toBeLessThan(120);
    // The default queue is drained by the worker: nothing waits there.
    expect(value(f, 'taskwire_queue_oldest_pending_age_seconds', { queue: 'default' })).toBe(0);
    // The finished counts are read again once 20× their last read's time has passed: shortly here.
    await waitFor(async () => value(await scrape(), 'taskwire_queue_tasks', { queue: 'default', status: 'SUCCEEDED' }) >= 2 || undefined, {
      message: 'the finished tasks to be counted',
    });
  });

  it('counts HTTP responses by route and status, the refusals before GraphQL runs and a client gone before the answer included', async () => {
    const before = await scrape();
    const delta = (f: Families, route: string, code: string): number =>
      value(f, 'taskwire_http_responses_total', { route, code }) - value(before, 'taskwire_http_responses_total', { route, code });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/no/such/path?x=1`)).status).toBe(404);
    const tooBig = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"query":"${'x'.repeat(3_000_000)}"}` });
    expect(tooBig.status).toBe(413);
    const wrongType = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{ __typename }' });
    await wrongType.arrayBuffer();
    expect((await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' })).status).toBe(200);
    // A client that sends half its body and goes: no answer was begun.
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => {
        socket.write('POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":');
        setImmediate(() => {
          socket.destroy();
          resolve();
        });
      });
      socket.once('error', reject);
    });
    const after = await waitFor(async () => {
      const f = await scrape();
      return delta(f, 'graphql', '499') === 1 ? f : undefined;
    }, { message: 'the abandoned request counted' });
    expect(delta(after, 'healthz', '200')).toBe(1);
    expect(delta(after, 'other', '404')).toBe(1);
    expect(delta(after, 'graphql', '413')).toBe(1);
    // A content type a browser's form could send without a preflight: refused before GraphQL (CSRF).
    expect(wrongType.status).toBe(403);
    expect(delta(after, 'graphql', '403')).toBe(1);
    expect(delta(after, 'graphql', '200')).toBe(1);
  });

  it('shows open subscriptions, the channels listened on and running tasks as they come and go', async () => {
    const id = await enqueue({ name: 'demo.sleep', args: [60_000] });
    await waitForStatus(server.deps, id, 'RUNNING');
    const abort = new AbortController();
    // One of each kind the server fans out: task states, a task's events, the event feed (each its own fan-out).
    for (const query of ['subscription { taskStatusChanged { id } }', `subscription { taskEvents(id: "${id}") { version } }`, 'subscription { taskEventFeed { cursor } }']) {
      const res = await fetch(`${base}/graphql?query=${encodeURIComponent(query)}`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
      expect(res.status).toBe(200);
    }
    // Only taskStatusChanged was counted: taskEvents and taskEventFeed read 0.
    const open = await waitFor(async () => {
      const f = await scrape();
      return value(f, 'taskwire_subscriptions_open') === 3 ? f : undefined;
    }, { message: 'every open subscription counted' });
    // A running attempt's age, as a hung handler's grows: a task RUNNING under a worker of its own,
    // its claim moved 5 minutes back. (Not the runner's task: a claim stamp changed under it is
    // another claim's to its heartbeat, which gives the attempt up as lost — on a busy machine
    // before the cancel below.)
    const hung = await insertTask(server.deps.db.sql, { status: 'RUNNING', queue: 'metrics-hung', leaseMs: 600_000 });
    await server.deps.db.sql`UPDATE tasks SET last_attempted_at = now() - interval '300 seconds' WHERE id = ${hung.id}`;
    const running = value(await scrape(), 'taskwire_queue_oldest_running_age_seconds', { queue: 'metrics-hung' });
    await server.deps.db.sql`DELETE FROM tasks WHERE id = ${hung.id}`;
    expect(running).toBeGreaterThanOrEqual(300);
    expect(running).toBeLessThan(330);
    expect(value(open, 'taskwire_worker_running_tasks', { worker_id: runner.workerId })).toBe(1);
    expect(value(open, 'taskwire_worker_slots', { worker_id: runner.workerId })).toBe(runner.concurrency);
    expect(runner.concurrency).toBe(server.deps.config.worker.concurrency);
    expect(value(open, 'taskwire_listening', { channel: 'taskwire_events' })).toBe(1);
    expect(value(open, 'taskwire_listening', { channel: 'taskwire_workflows' })).toBe(0);

    abort.abort();
    await server.deps.queue.cancelTask(id);
    await waitForStatus(server.deps, id, 'CANCELLED');
    await waitFor(
      async () => {
        const f = await scrape();
        return (
          value(f, 'taskwire_subscriptions_open') === 0 &&
          value(f, 'taskwire_queue_oldest_running_age_seconds', { queue: 'default' }) === 0 &&
          value(f, 'taskwire_worker_running_tasks', { worker_id: runner.workerId }) === 0 &&
          value(f, 'taskwire_listening', { channel: 'taskwire_events' }) === 0
        );
      },
      { message: 'the subscription, the task and the LISTEN (after its idle grace) to be gone from /metrics' },
    );
    const f = await scrape();
    expect(value(f, 'taskwire_tasks_finished_total', { name: 'demo.sleep', queue: 'default', outcome: 'cancelled' })).toBe(1);
  });

  it('shows how long the event feed has been held back by an open transaction that wrote, and its reads', async () => {
    const abort = new AbortController();
    const holder = postgres(server.database.url, { max: 1, onnotice: () => undefined });
    try {
      const res = await fetch(`${base}/graphql?query=${encodeURIComponent('subscription { taskEventFeed { cursor } }')}`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
      expect(res.status).toBe(200);
      // A transaction that has taken a transaction id and stays open: the feed's horizon stops below it.
      let commit!: () => void;
      const opened = new Promise<void>((resolve) => {
        void holder.begin(async (tx) => {
          await tx`SELECT pg_current_xact_id()`;
          resolve();
          await new Promise<void>((done) => (commit = done));
        });
      });
      await opened;
      // An event behind it, which the feed waits for.
      await enqueue({ name: 'demo.echo', queue: 'metrics-feed-held' });
      const held = await waitFor(async () => {
        const f = await scrape();
        return value(f, 'taskwire_event_feed_held_seconds') >= 0.5 ? f : undefined;
      }, { message: 'the feed seen held back' });
      expect(sampleValue(held, 'taskwire_event_log_reads_total', { source: 'feed' })).toBeGreaterThan(0);
      commit();
      await waitFor(async () => value(await scrape(), 'taskwire_event_feed_held_seconds') === 0, { message: 'the feed going on once the transaction ends' });
    } finally {
      abort.abort();
      await holder.end();
    }
  });
});
