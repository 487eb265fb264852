import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import {
  auditViolations,
  freePort,
  killHard,
  serverUrl,
  spawnCli,
  TASK_AUDIT_SQL,
  WATCH,
  type Change,
  workerIdOf,
} from '../helpers/reliability-processes.js';
import { RELIABILITY_TABLES_SQL, RELIABILITY_TASKS, reliabilityTasks } from '../helpers/reliability-tasks.js';
import { createServerClients, resubscribe, type Resubscriber, type ServerClients } from '../helpers/resubscriber.js';
import type { TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';

// A rolling deploy (docs/deploy.md): while tasks keep coming and running, every worker process and
// every server process is replaced one at a time with SIGTERM, as systemd or Kubernetes would.
// Graceful means more than at-least-once here: every task runs to its end exactly once, none is
// rescued or stuck, and subscribers that fail over between the servers miss no terminal state.
const WORKERS = 3;
const SERVERS = 2;
/** Enqueued before the deploy starts: every worker is busy from the first SIGTERM on. */
const BACKLOG = 500;
/** Then, until the deploy is over: BATCH tasks every BATCH_EVERY_MS (~80/s, 3 × 10 slots run ~100/s). */
const BATCH = 8;
const BATCH_EVERY_MS = 100;
/** Watched one by one with taskStatusChanged(id:): half spread over the backlog, then the first of each batch. */
const WATCHED = 200;
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const FEED = 'subscription ($after: String) { taskEventFeed(after: $after) { cursor taskId version type } }';
type FeedEvent = { taskEventFeed: { cursor: string; taskId: string; version: number; type: string } };
/** 200–400 ms of work each. */
const work = (n: number): { name: string; args: number[] }[] => Array.from({ length: n }, (_, i) => ({ name: 'rel.run', args: [200 + (i % 5) * 50] }));

let app: QueueTestApp;
let clients: ServerClients | undefined;
const processes: TaskwireProcess[] = [];
const subscribers: Resubscriber[] = [];
beforeAll(async () => {
  app = await createQueueTestApp({}, reliabilityTasks);
  await app.sql.unsafe(RELIABILITY_TABLES_SQL);
  await app.sql.unsafe(TASK_AUDIT_SQL);
});
afterAll(async () => {
  for (const s of subscribers) s.stop();
  await clients?.dispose();
  await Promise.all(processes.map((p) => killHard(p)));
  await app?.close();
});

/** A feed follower: every event from where it started, resumed by cursor on whichever server answers. */
function followFeed(servers: ServerClients, start: number): { events: FeedEvent['taskEventFeed'][]; sub: Resubscriber } {
  const events: FeedEvent['taskEventFeed'][] = [];
  const sub = resubscribe<FeedEvent>(servers, {
    start,
    query: FEED,
    variables: () => ({ after: events.at(-1)?.cursor ?? null }),
    onData: (d) => events.push(d.taskEventFeed),
    finished: () => false,
  });
  return { events, sub };
}

describe('a rolling deploy under load', () => {
  it(`replaces ${WORKERS} workers and ${SERVERS} servers one at a time while tasks come and run: each ran once, none stuck, every subscriber saw every end`, { timeout: 150_000 }, async () => {
    const env = { DATABASE_URL: app.database.url, TASK_MODULES: RELIABILITY_TASKS, WORKER_CONCURRENCY: '10', DB_POOL_SIZE: '5' };
    const ports = await Promise.all(Array.from({ length: SERVERS }, () => freePort()));
    const startServer = (i: number): TaskwireProcess => spawnCli('serve', { ...env, PORT: String(ports[i]) });
    const startWorker = async (): Promise<{ p: TaskwireProcess; id: string }> => {
      const p = spawnCli('worker', env);
      processes.push(p);
      return { p, id: await workerIdOf(p, 60_000) };
    };
    const servers = ports.map((_, i) => startServer(i));
    processes.push(...servers);
    const urls = await Promise.all(servers.map((s) => serverUrl(s, 60_000)));
    clients = createServerClients(urls);

    // Two feed followers, one per server. graphql-ws does not acknowledge a subscription, and a feed
    // without a cursor starts "now": marker tasks until both have seen one show them live.
    const feeds = [followFeed(clients, 0), followFeed(clients, 1)];
    subscribers.push(...feeds.map((f) => f.sub));
    const markers: string[] = [];
    await waitFor(
      async () => {
        const [marker] = await app.deps.queue.enqueueMany(work(1));
        markers.push(marker!.id);
        return feeds.every((f) => f.events.some((e) => markers.includes(e.taskId)));
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 'both feeds to be live' },
    );

    const produced: string[] = (await app.deps.queue.enqueueMany(work(BACKLOG))).map((t) => t.id);
    const last = new Map<string, Change['taskStatusChanged']>();
    const watchers: Resubscriber[] = [];
    const watch = (id: string): void => {
      const w = resubscribe<Change>(clients!, {
        start: watchers.length,
        query: WATCH,
        variables: () => ({ id }),
        onData: (d) => last.set(id, d.taskStatusChanged),
        finished: () => TERMINAL.has(last.get(id)?.status ?? ''),
      });
      watchers.push(w);
      subscribers.push(w);
    };
    for (const [i, id] of produced.entries()) if (i % (BACKLOG / (WATCHED / 2)) === 0) watch(id);
    let workers = await Promise.all(Array.from({ length: WORKERS }, () => startWorker()));
    const started = performance.now();

    // Traffic through the whole deploy, on a fixed schedule (the load, not a wait for some state).
    const deployed = new AbortController();
    const producer = (async () => {
      while (!deployed.signal.aborted) {
        const batch = await app.deps.queue.enqueueMany(work(BATCH));
        produced.push(...batch.map((t) => t.id));
        if (watchers.length < WATCHED) watch(batch[0]!.id);
        await delay(BATCH_EVERY_MS, undefined, { signal: deployed.signal }).catch(() => undefined);
      }
    })();

    // Workers one at a time: SIGTERM to one that is running tasks, its replacement started at the
    // same moment (a surge of one). Servers one at a time meanwhile, each back on its own port.
    const workerStops: { id: string; held: number; code: number | null }[] = [];
    const rollWorkers = (async () => {
      for (let i = 0; i < WORKERS; i++) {
        const victim = workers[0]!;
        const held = await waitFor(
          async () => {
            const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'RUNNING' AND locked_by = ${victim.id}`;
            return Number(row?.n) > 0 ? Number(row?.n) : undefined;
          },
          { timeoutMs: 30_000, message: `worker ${victim.id} to be running tasks` },
        );
        const [code, replacement] = await Promise.all([victim.p.stop(30_000), startWorker()]);
        workerStops.push({ id: victim.id, held, code });
        workers = [...workers.slice(1), replacement];
      }
    })();
    const serverStops: (number | null)[] = [];
    const rollServers = (async () => {
      for (let i = 0; i < SERVERS; i++) {
        serverStops.push(await servers[i]!.stop(30_000));
        const replacement = startServer(i);
        processes.push(replacement);
        expect(await serverUrl(replacement, 60_000)).toBe(urls[i]);
      }
    })();
    try {
      await Promise.all([rollWorkers, rollServers]);
    } finally {
      deployed.abort();
      await producer;
    }
    const deployMs = Math.round(performance.now() - started);
    const bulk = produced;
    const ids = [...markers, ...bulk];
    const [left] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')`;

    await waitFor(
      async () => {
        const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'SUCCEEDED'`;
        return Number(row?.n) === ids.length;
      },
      { timeoutMs: 60_000, intervalMs: 200, message: `all ${ids.length} tasks to succeed` },
    );
    const drainMs = Math.round(performance.now() - started);
    await Promise.all(watchers.map((w) => w.done));
    expect(watchers.length).toBeGreaterThan(WATCHED / 2);

    expect(workerStops.map((s) => s.code)).toEqual(Array(WORKERS).fill(0));
    expect(serverStops).toEqual(Array(SERVERS).fill(0));
    // Every task done by one attempt that ran to its end, once: none lost (rescued), none released
    // mid-run (the grace sufficed), none run twice, none stuck.
    const [final] = await app.sql`
      SELECT count(*) FILTER (WHERE t.status = 'SUCCEEDED' AND t.attempts = 1 AND t.errors = '[]'::jsonb AND t.locked_by IS NULL)::int AS clean,
        count(*) FILTER (WHERE t.status = 'RUNNING')::int AS running,
        (SELECT count(*)::int FROM task_events e WHERE e.type = 'RESCUED') AS rescued,
        (SELECT count(*)::int FROM task_events e WHERE e.type = 'RELEASED') AS released,
        (SELECT count(*)::int FROM (SELECT task_id FROM executions GROUP BY task_id HAVING count(*) > 1) d) AS ran_twice,
        (SELECT count(*)::int FROM tasks x WHERE NOT EXISTS (SELECT 1 FROM executions e WHERE e.task_id = x.id)) AS never_ran,
        (SELECT count(*)::int FROM task_events) AS events,
        (SELECT count(*)::int FROM task_events WHERE task_id = ANY(${bulk}::uuid[])) AS bulk_events
      FROM tasks t`;
    // Released: claimed ahead (WORKER_PREFETCH_MS) but not started when a stop began, handed back at once.
    expect(final).toMatchObject({ clean: ids.length, running: 0, rescued: 0, ranTwice: 0, neverRan: 0 });
    expect(await auditViolations(app.sql)).toEqual({ twiceSucceeded: 0, changedAfterFinish: 0, versionJumps: 0 });
    const graceOver = processes.flatMap((p) => p.logs).filter((l) => l.msg === 'grace period over; releasing running tasks');
    expect(graceOver).toEqual([]);

    // Subscribers: every watched task's stream ended on its terminal state, and each feed follower,
    // failing over between the servers, got every event of every task once, in order.
    expect([...last.values()].filter((t) => t.status !== 'SUCCEEDED')).toEqual([]);
    expect(last.size).toBe(watchers.length);
    expect(watchers.flatMap((w) => w.unexpected)).toEqual([]);
    // (Of the markers, a feed may have missed the first events: it was not live yet.)
    const inBulk = new Set(bulk);
    for (const f of feeds) {
      const bulkEvents = (): number => f.events.filter((e) => inBulk.has(e.taskId)).length;
      await waitFor(() => bulkEvents() >= Number(final?.bulkEvents), { timeoutMs: 30_000, message: 'the feed to reach the end of the log' });
      f.sub.stop();
      const keys = f.events.map((e) => `${e.taskId}:${e.version}`);
      expect(new Set(keys).size).toBe(keys.length);
      const versions = new Map<string, number>();
      const outOfOrder = f.events.filter((e) => (versions.get(e.taskId) ?? 0) >= e.version || !versions.set(e.taskId, e.version));
      expect(outOfOrder).toEqual([]);
      expect(bulkEvents()).toBe(Number(final?.bulkEvents));
      const ended = new Set(f.events.filter((e) => e.type === 'SUCCEEDED').map((e) => e.taskId));
      expect(ids.filter((id) => !ended.has(id))).toEqual([]);
      expect(f.sub.unexpected).toEqual([]);
      expect(f.sub.subscriptions()).toBeGreaterThanOrEqual(2);
    }
    console.log(
      `[rolling deploy] ${ids.length} tasks (200–400 ms; ${BACKLOG} before, the rest during the deploy) on ${WORKERS}×10 slots; replaced ${WORKERS} workers (holding ${workerStops.map((s) => s.held).join(', ')} running tasks at SIGTERM) ` +
        `and ${SERVERS} servers in ${deployMs} ms, ${left?.n} tasks still to do then; drained in ${drainMs} ms; ${final?.released} claimed ahead and handed back unstarted, cut off by the grace 0, rescued 0, ran twice 0, stuck RUNNING 0; ` +
        `${watchers.length} watchers re-subscribed ${watchers.reduce((n, w) => n + w.subscriptions(), 0) - watchers.length} times; feeds ${feeds.map((f) => `${f.events.length} events over ${f.sub.subscriptions()} subscriptions`).join(', ')}`,
    );
    expect(await Promise.all(workers.map((w) => w.p.stop()))).toEqual(workers.map(() => 0));
  });
});
