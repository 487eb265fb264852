import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { listen } from '../../src/queue/events.js';
import { silentLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { requirePgbouncer, SKIP_PGBOUNCER, startPgbouncer, warnIfPgbouncerSkipped, type Pgbouncer } from '../helpers/pgbouncer.js';
import { describeProcess, ENQUEUE, freePort, gql, killHard, serverUrl, spawnCli, workerIdOf } from '../helpers/reliability-processes.js';
import { createTaskWatchers, type StreamWatch, type TaskWatch, type TaskWatchers } from '../helpers/task-watchers.js';
import type { TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';

// Scale-out behind PgBouncer in transaction pooling (issue 16): 2 GraphQL servers and 6 worker
// processes share 20 server connections, LISTEN going over DATABASE_LISTEN_URL straight to
// PostgreSQL. Then, for the throughput beside it, workers through PgBouncer and direct side by side.
const SERVERS = 2;
const WORKERS = 6;
const POOL = 20;
const TASKS = 20_000;
/** Of TASKS, this many go through the servers' enqueueTask (half each); the rest in one statement, to queue 'bulk'. */
const VIA_GRAPHQL = 100;
/** Per-task subscriptions on each server, to tasks of the bulk: its first ones on one server, its last on the other. */
const PER_TASK = 100;
const FEED = 'subscription { taskEventFeed { taskId type } }';
const FILTERED = 'subscription { taskStatusChanged(filter: { status: [SUCCEEDED, FAILED, CANCELLED] }) { id status } }';

interface Figures {
  /** The bulk's drain: tasks over the time from its first claim to its last finish. */
  tasksPerS: number;
  drainMs: number;
  peakServers: number;
  peakClientsWaiting: number;
  /** Terminal states each server's filter subscription delivered (of TASKS), once the feeds had them all. */
  filterSaw: number[];
  /** How long each step took, in ms. */
  steps: Record<string, number>;
}

interface Subscribers {
  feeds: StreamWatch[];
  filtered: StreamWatch[];
  watches: TaskWatch[];
}

let bouncer: Pgbouncer | undefined;
const databases: TestDatabase[] = [];
const processes: TaskwireProcess[] = [];
const extraDeps: Deps[] = [];
let watchers: TaskWatchers | undefined;

warnIfPgbouncerSkipped('test/reliability/pgbouncer.test.ts');

beforeAll(async () => {
  if (SKIP_PGBOUNCER) return;
  requirePgbouncer();
  databases.push(await createTestDatabase(), await createTestDatabase());
  bouncer = await startPgbouncer({ serverUrl: databases[0]!.url, poolSize: POOL });
});
afterAll(async () => {
  await watchers?.dispose();
  await Promise.all(processes.map((p) => killHard(p)));
  await Promise.all(extraDeps.map((d) => d.close()));
  await bouncer?.stop();
  await Promise.all(databases.map((d) => d.drop()));
});

/** SERVERS `taskwire serve` and WORKERS `taskwire worker` processes, started together; resolves once all are up. */
async function startDeployment(env: Record<string, string>): Promise<{ all: TaskwireProcess[]; urls: string[] }> {
  const servers = await Promise.all(Array.from({ length: SERVERS }, async () => spawnCli('serve', { ...env, PORT: String(await freePort()) })));
  const workers = Array.from({ length: WORKERS }, () => spawnCli('worker', env));
  processes.push(...servers, ...workers);
  const urls = await Promise.all(servers.map((s) => serverUrl(s, 60_000)));
  await Promise.all(workers.map((w) => workerIdOf(w, 60_000)));
  return { all: [...servers, ...workers], urls };
}

/** On each server the event feed and a filter subscription to terminal states; resolves once both are live. */
async function subscribeToAll(w: TaskWatchers, urls: string[]): Promise<Omit<Subscribers, 'watches'>> {
  const feeds = urls.map((url) => w.follow(url, FEED, (d) => ({ id: d.taskEventFeed!.taskId!, state: d.taskEventFeed!.type! })));
  const filtered = urls.map((url) => w.follow(url, FILTERED, (d) => ({ id: d.taskStatusChanged!.id!, state: d.taskStatusChanged!.status! })));
  // graphql-ws does not acknowledge a subscription: probe tasks until every subscriber has seen one finish.
  const probes: string[] = [];
  await waitFor(
    async () => {
      const res = await gql<{ enqueueTask: { task: { id: string } } }>(urls[probes.length % SERVERS]!, ENQUEUE, { input: { name: 'math.copysign', args: [1, -1] } });
      probes.push(res.data!.enqueueTask.task.id);
      return [...feeds, ...filtered].every((s) => probes.some((id) => s.terminal.has(id)));
    },
    { timeoutMs: 30_000, intervalMs: 200, message: 'every subscriber to see a probe task finish' },
  );
  return { feeds, filtered };
}

/**
 * VIA_GRAPHQL tasks through the servers' enqueueTask, then the rest in one statement over the same kind
 * of pool the processes use (through PgBouncer when they do), committed at once. Returns every id, the bulk's first.
 */
async function enqueueAll(urls: string[], env: Record<string, string>): Promise<{ ids: string[]; bulk: string[] }> {
  const viaGraphql = await Promise.all(
    Array.from({ length: VIA_GRAPHQL }, async (_, i) => {
      const res = await gql<{ enqueueTask: { task: { id: string } } }>(urls[i % SERVERS]!, ENQUEUE, { input: { name: 'demo.echo', args: [i] } });
      expect(res.errors).toBeUndefined();
      return res.data!.enqueueTask.task.id;
    }),
  );
  const config = loadConfig(env);
  const deps = await createDeps(config, { databaseUrl: config.databaseUrl!, log: silentLogger });
  extraDeps.push(deps);
  const bulk = (await deps.queue.enqueueMany(Array.from({ length: TASKS - VIA_GRAPHQL }, (_, i) => ({ name: 'demo.echo', args: [i], queue: 'bulk' })))).map((t) => t.id);
  return { ids: [...bulk, ...viaGraphql], bulk };
}

/** Nothing lost, nothing run twice, nothing left RUNNING; every feed and per-task stream saw every end. */
async function expectNothingLost(database: TestDatabase, ids: string[], s: Subscribers): Promise<void> {
  const [final] = await database.db.sql`
    SELECT count(*)::int AS tasks,
      count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS succeeded,
      count(*) FILTER (WHERE status = 'RUNNING')::int AS running,
      count(*) FILTER (WHERE attempts <> 1)::int AS retried,
      (SELECT count(*)::int FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE e.type = 'SUCCEEDED' AND t.name = 'demo.echo') AS succeeded_events
    FROM tasks WHERE name = 'demo.echo'`;
  expect(final).toEqual({ tasks: TASKS, succeeded: TASKS, running: 0, retried: 0, succeededEvents: TASKS });
  for (const feed of s.feeds) {
    expect(feed.failure).toBeUndefined();
    expect(feed.twice).toBe(0);
    expect(ids.filter((id) => feed.terminal.get(id) !== 'SUCCEEDED')).toEqual([]);
  }
  for (const w of s.watches) {
    expect(w).toMatchObject({ end: 'complete', last: 'SUCCEEDED' });
    expect(w.versions).toEqual([...new Set(w.versions)].sort((x, y) => x - y));
  }
  // A filter subscription is conflated and bounded (src/server/live/task-stream.ts: beyond 10,000
  // tasks queued for a consumer that is behind, the oldest is dropped), so a burst of 20,000 on a
  // loaded machine may cost it some; what it delivers is right and once. How many it saw is reported.
  for (const f of s.filtered) {
    expect(f.failure).toBeUndefined();
    expect(f.twice).toBe(0);
    expect([...f.terminal.values()].every((state) => state === 'SUCCEEDED')).toBe(true);
  }
}

/** What a process gets: DATABASE_URL through PgBouncer and DATABASE_LISTEN_URL direct, or DATABASE_URL direct. */
function envFor(database: TestDatabase, pooled: boolean): Record<string, string> {
  const name = new URL(database.url).pathname.slice(1);
  return pooled
    ? { DATABASE_URL: bouncer!.urlFor(name), DATABASE_LISTEN_URL: database.url, ENQUEUE_RATE_PER_S: '0' }
    : { DATABASE_URL: database.url, ENQUEUE_RATE_PER_S: '0' };
}

/** Runs the whole deployment on `database` through PgBouncer, checks it, stops it, and returns its figures. */
async function runDeployment(database: TestDatabase): Promise<Figures> {
  const name = new URL(database.url).pathname.slice(1);
  const env = envFor(database, true);
  const steps: Record<string, number> = {};
  let since = performance.now();
  const step = (label: string): void => {
    steps[label] = Math.round(performance.now() - since);
    since = performance.now();
  };
  const { all, urls } = await startDeployment(env);
  step('start');
  watchers = createTaskWatchers();
  const live = await subscribeToAll(watchers, urls);
  step('subscribe');
  const { ids, bulk } = await enqueueAll(urls, env);
  // Per-task subscriptions, made while the bulk drains: each sees its task's current state, then its end.
  const watches = urls.flatMap((url, i) => watchers!.watchEach(url, i === 0 ? bulk.slice(0, PER_TASK) : bulk.slice(-PER_TASK)));
  const subscribers = { ...live, watches };
  step('enqueue');

  const sampler = bouncer!.samplePool(name);
  let peaks: { peakServers: number; peakClientsWaiting: number };
  try {
    await waitFor(
      async () => {
        const [row] = await database.db.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'SUCCEEDED' AND name = 'demo.echo'`;
        return Number(row?.n) === TASKS;
      },
      { timeoutMs: 120_000, intervalMs: 200, message: `${TASKS} tasks to succeed (${all.map(describeProcess).join('\n')})` },
    );
  } finally {
    peaks = await sampler.stop();
  }
  step('drain');
  await waitFor(() => live.feeds.every((s) => s.failure !== undefined || ids.every((id) => s.terminal.has(id))) && watches.every((w) => w.end !== undefined), {
    timeoutMs: 90_000,
    intervalMs: 100,
    message: `every feed and per-task stream to see every end (feeds: ${live.feeds.map((s) => s.terminal.size).join(', ')} of ${TASKS}; ${watches.filter((w) => w.end).length} of ${watches.length} streams ended)`,
  });
  step('catchUp');
  await expectNothingLost(database, ids, subscribers);
  const [drain] = await database.db.sql`
    SELECT count(*)::int AS n, round(extract(epoch FROM max(finished_at) - min(started_at)) * 1000)::int AS ms FROM tasks WHERE queue = 'bulk'`;

  // A graceful stop works through the pooler as well: every process exits 0.
  await watchers.dispose();
  expect(await Promise.all(all.map((p) => p.stop(30_000)))).toEqual(all.map(() => 0));
  step('stop');
  return {
    tasksPerS: Math.round((Number(drain?.n) / Number(drain?.ms)) * 1000),
    drainMs: Number(drain?.ms),
    ...peaks,
    filterSaw: live.filtered.map((s) => ids.filter((id) => s.terminal.has(id)).length),
    steps,
  };
}

/** Half the workers through PgBouncer, half direct, on one queue at the same time: each half's share is its throughput. */
interface Comparison {
  tasks: number;
  windowMs: number;
  viaBouncerPerS: number;
  directPerS: number;
}

/**
 * WORKERS workers on `database`, half through PgBouncer and half direct, drain TASKS tasks enqueued in one
 * statement. Run side by side rather than one after the other, both halves meet the same load from
 * the rest of the machine (this one is shared), so the ratio of what they got done is a fair one.
 */
async function compareWorkers(database: TestDatabase): Promise<Comparison> {
  const halves = [true, false].map((pooled) => Array.from({ length: WORKERS / 2 }, () => spawnCli('worker', envFor(database, pooled))));
  processes.push(...halves.flat());
  const [pooledIds, directIds] = await Promise.all(halves.map((half) => Promise.all(half.map((w) => workerIdOf(w, 60_000)))));
  const deps = await createDeps(loadConfig(envFor(database, false)), { databaseUrl: database.url, log: silentLogger });
  extraDeps.push(deps);
  await deps.queue.enqueueMany(Array.from({ length: TASKS }, (_, i) => ({ name: 'demo.echo', args: [i], queue: 'compare' })));
  await waitFor(
    async () => {
      const [row] = await database.db.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'SUCCEEDED' AND queue = 'compare'`;
      return Number(row?.n) === TASKS;
    },
    { timeoutMs: 120_000, intervalMs: 200, message: `${TASKS} tasks to succeed (${halves.flat().map(describeProcess).join('\n')})` },
  );
  const [row] = await database.db.sql`
    SELECT count(*)::int AS tasks, count(*) FILTER (WHERE attempts = 1)::int AS once,
      count(*) FILTER (WHERE worker_ids[1] = ANY(${pooledIds!}::text[]))::int AS via_bouncer,
      count(*) FILTER (WHERE worker_ids[1] = ANY(${directIds!}::text[]))::int AS direct,
      round(extract(epoch FROM max(finished_at) - min(started_at)) * 1000)::int AS window_ms
    FROM tasks WHERE queue = 'compare'`;
  expect(row).toMatchObject({ tasks: TASKS, once: TASKS });
  expect(Number(row?.viaBouncer) + Number(row?.direct)).toBe(TASKS);
  const all = halves.flat();
  expect(await Promise.all(all.map((p) => p.stop(30_000)))).toEqual(all.map(() => 0));
  const windowMs = Number(row?.windowMs);
  return { tasks: TASKS, windowMs, viaBouncerPerS: Math.round((Number(row?.viaBouncer) / windowMs) * 1000), directPerS: Math.round((Number(row?.direct) / windowMs) * 1000) };
}

describe.skipIf(SKIP_PGBOUNCER)('scale-out behind PgBouncer in transaction pooling', () => {
  it('a pool through PgBouncer needs DATABASE_LISTEN_URL: without it the first query is refused; with it statements run and LISTEN hears NOTIFYs sent through the pool', { timeout: 20_000 }, async () => {
    const database = databases[0]!;
    const pooledUrl = bouncer!.urlFor(new URL(database.url).pathname.slice(1));
    // The startup parameter a direct pool sends (plan_cache_mode) is one PgBouncer does not know: a loud failure, not a deaf LISTEN.
    const plain = createDb(pooledUrl, { max: 1 });
    await expect(plain.sql`SELECT 1`).rejects.toMatchObject({ code: '08P01' });
    await plain.close();
    // Migrations refuse it too, at once and saying what to set: through the pool their session lock could stay held.
    await expect(migrateDatabase(pooledUrl)).rejects.toMatchObject({ code: 'CONFIG_INVALID', field: 'DATABASE_LISTEN_URL', message: expect.stringMatching(/unsupported startup parameter.*DATABASE_LISTEN_URL/) });
    const db = createDb(pooledUrl, { max: 4, listenUrl: database.url });
    try {
      expect(db.pooled).toBe(true);
      // The same statement many times, over whichever server connections PgBouncer lends: nothing prepared to lose.
      const sums = await Promise.all(Array.from({ length: 40 }, async (_, i) => (await db.sql`SELECT ${i}::int + 1 AS n`)[0]?.n));
      expect(sums).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      const heard: string[] = [];
      const listener = await listen(db.sql, 'pgbouncer_test', { onNotify: (payload) => heard.push(payload) });
      await db.sql`SELECT pg_notify('pgbouncer_test', 'through the pool')`;
      await waitFor(() => heard.length > 0, { message: 'the NOTIFY sent through PgBouncer' });
      expect(heard).toEqual(['through the pool']);
      await listener.close();
    } finally {
      await db.close();
    }
  });

  it(
    `${SERVERS} servers and ${WORKERS} workers through one PgBouncer capped at ${POOL} server connections run ${TASKS} tasks, each once; every feed and per-task subscriber on both servers sees every end`,
    { timeout: 400_000 },
    async () => {
      const run = await runDeployment(databases[0]!);
      expect(run.peakServers).toBeGreaterThan(0);
      expect(run.peakServers).toBeLessThanOrEqual(POOL);
      const compared = await compareWorkers(databases[1]!);
      console.log(
        [
          `[pgbouncer] ${SERVERS} servers + ${WORKERS} workers (DB_POOL_SIZE 10 each, 80 client connections) through PgBouncer (${POOL} server connections), ` +
            `${TASKS} demo.echo tasks; on each server a taskEventFeed, a taskStatusChanged(filter) and ${PER_TASK} taskStatusChanged(id):`,
          `  drain of the ${TASKS - VIA_GRAPHQL} enqueued in one statement: ${run.tasksPerS} tasks/s (${run.drainMs} ms); peak ${run.peakServers} server connections, ` +
            `peak ${run.peakClientsWaiting} clients waiting; filter subscriptions saw ${run.filterSaw.join(' and ')} of ${TASKS} ends; steps (ms) ${JSON.stringify(run.steps)}`,
          `[pgbouncer] ${WORKERS / 2} workers through PgBouncer and ${WORKERS / 2} direct, side by side on ${compared.tasks} tasks (${compared.windowMs} ms): ` +
            `${compared.viaBouncerPerS} tasks/s through PgBouncer, ${compared.directPerS} tasks/s direct ` +
            `(${(compared.viaBouncerPerS / compared.directPerS).toFixed(2)}×)`,
        ].join('\n'),
      );
      await mkdir('test-artifacts', { recursive: true });
      await writeFile('test-artifacts/pgbouncer.json', `${JSON.stringify({ at: new Date().toISOString(), tasks: TASKS, run, compared }, null, 2)}\n`);
    },
  );
});
