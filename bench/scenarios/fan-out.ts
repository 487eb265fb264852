import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'graphql-ws';
import { AUTH_ON_ENV, BENCH_TENANT, createBenchKey } from '../lib/auth.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { percentiles } from '../lib/stats.js';
import { range, waitUntil } from '../lib/wait.js';
import { BY_ID, subscribe, wsClient } from '../lib/ws-client.js';
import { createTaskwireSystem, NOOP_TASK, type TaskwireSystem } from '../systems/taskwire.js';

const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * (g) fan-out: one server process (no worker) holds `fanOutSubscribers` graphql-ws
 * subscriptions over `fanOutConnections` connections, watching `fanOutTasks` pending tasks
 * (an equal share each). Then a worker in a separate process runs the tasks. Measured:
 * per subscriber, the task's finished_at (set in the completing statement) → that
 * subscriber receiving SUCCEEDED (same host clock); the server's read queries per change
 * (its own counters); server RSS and heap growth per subscriber (after full GCs, from
 * before the clients connected to after every subscription got its first event).
 *
 * Every repetition runs this twice, each in a fresh database with processes of its own: as
 * described, and with the server on AUTH_MODE=on, every connection carrying an API key
 * (`tasks:read`) in `connectionParams.authorization` and the tasks in the key's tenant. The
 * order alternates between repetitions, so drift falls on both alike. Both passes' databases
 * and processes are set up together beforehand (the worker waits to be told to start), so the
 * second pass adds no process start-up to the run's time.
 */
export async function fanOutScenario(job: ChildJob, rec: Recorder): Promise<void> {
  for (let rep = 1; rep <= job.repeat; rep++) {
    const order = rep % 2 === 1 ? [false, true] : [true, false];
    const settled = await Promise.allSettled(order.map((auth) => preparePass(job, auth)));
    const passes = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      for (const pass of passes) {
        try {
          await measurePass(job, rec, rep, pass);
        } finally {
          await closePass(pass);
        }
      }
    } finally {
      // Whatever a failure left open (closing twice is harmless).
      await Promise.all(passes.map((pass) => closePass(pass)));
    }
  }
}

/** One pass's database, tasks and processes, ready to measure. */
interface Pass {
  auth: boolean;
  db: { url: string; drop(): Promise<void> };
  core: TaskwireSystem;
  ids: string[];
  authorization: string | undefined;
  server: ServerProcess;
  /** Started paused: its runner starts when the subscriptions are in place. */
  worker: ServerProcess;
  clients: Client[];
  closed: boolean;
}

async function preparePass(job: ChildJob, auth: boolean): Promise<Pass> {
  const db = await freshDatabase(job.adminUrl, job.template);
  const core = await createTaskwireSystem(db.url);
  const processes: ServerProcess[] = [];
  try {
    const authorization = auth ? await createBenchKey(db.url, ['tasks:read']) : undefined;
    // With auth on, the tasks are the key's tenant's (the unscoped core queue may name one).
    const tenant = auth ? { tenant: BENCH_TENANT } : {};
    const created = await core.deps.queue.enqueueMany(range(0, job.sizes.fanOutTasks).map((i) => ({ name: NOOP_TASK, args: [i], ...tenant })));
    const env = auth ? { env: { ...AUTH_ON_ENV } } : {};
    const [server, worker] = await Promise.all([
      startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: false, ...env }, job.profileDir).then((p) => (processes.push(p), p)),
      startServerProcess(job.root, { databaseUrl: db.url, server: false, worker: true, workerPaused: true }, job.profileDir).then((p) => (processes.push(p), p)),
    ]);
    return { auth, db, core, ids: created.map((t) => t.id), authorization, server, worker, clients: [], closed: false };
  } catch (error) {
    await Promise.all(processes.map((p) => p.stop()));
    await core.close();
    await db.drop();
    throw error;
  }
}

async function closePass(pass: Pass): Promise<void> {
  if (pass.closed) return;
  pass.closed = true;
  await Promise.all(pass.clients.map((c) => c.dispose()));
  await pass.worker.stop();
  await pass.server.stop();
  await pass.core.close();
  await pass.db.drop();
}

/** Metric names of one pass: the auth-on pass records its own, under names that say so. */
function metricsOf(auth: boolean): Record<'p50' | 'p99' | 'max' | 'first' | 'rss' | 'heap' | 'reads' | 'rows', string> {
  const base = {
    p50: M.fanOutP50,
    p99: M.fanOutP99,
    max: 'change → every subscriber sees it max',
    first: 'change → first subscriber of the task sees it p50',
    rss: M.rssPerSubscriber,
    heap: 'server heap per subscriber',
    reads: M.readsPerChange,
    rows: 'rows read per change (per server)',
  };
  if (!auth) return base;
  const on = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, `auth on (API key): ${v}`])) as typeof base;
  return { ...on, p50: M.fanOutP50Auth, p99: M.fanOutP99Auth };
}

async function measurePass(job: ChildJob, rec: Recorder, rep: number, pass: Pass): Promise<void> {
  const { fanOutSubscribers: subs, fanOutConnections: conns, fanOutTasks: tasks } = job.sizes;
  const { auth, server, ids, core } = pass;
  const m = metricsOf(auth);
  const label = auth ? 'auth-on-' : '';
  const before = await server.stats(true);
  if (job.profileDir) {
    await mkdir(job.profileDir, { recursive: true });
    await server.heapSnapshot(path.join(job.profileDir, `server-${label}before-${rep}.heapsnapshot`));
  }
  for (let c = 0; c < conns; c++) pass.clients.push(wsClient(server.url, pass.authorization));

  let ready = 0;
  const seenAt = new Array<number>(subs);
  const streams: Promise<void>[] = [];
  for (let s = 0; s < subs; s++) {
    const id = ids[Math.floor((s * tasks) / subs)] as string;
    let first = true;
    const stream = subscribe(pass.clients[s % conns] as Client, BY_ID, { id }, (e) => {
      if (first) {
        first = false;
        ready += 1;
      }
      if (e.status === 'SUCCEEDED') seenAt[s] = wallNow();
    });
    streams.push(stream.done);
  }
  await waitUntil(() => ready === subs, { timeoutMs: 120_000, intervalMs: 10, what: `${subs} subscriptions to get their first event` });
  const subscribed = await server.stats(true);
  if (job.profileDir) await server.heapSnapshot(path.join(job.profileDir, `server-${label}subscribed-${rep}.heapsnapshot`));
  rec.add(m.rss, 'bytes', (subscribed.memory.rss - before.memory.rss) / subs);
  rec.add(m.heap, 'bytes', (subscribed.memory.heapUsed - before.memory.heapUsed) / subs);

  // A bare LISTEN in this process: when the completion's NOTIFY arrives, before any server work.
  const notifiedAt = new Map<string, number>();
  await core.watchFinished((id) => notifiedAt.set(id, wallNow()));
  await pass.worker.startWorker();
  await Promise.race([
    Promise.all(streams),
    waitUntil(() => false, { timeoutMs: 120_000, what: 'every subscription to complete' }),
  ]);
  const after = await server.stats();
  const finished = await core.deps.db.sql`
    SELECT id, extract(epoch FROM finished_at)::float8 * 1000 AS ms FROM tasks WHERE id = ANY(${ids}::uuid[])`;
  const finishedAt = new Map(finished.map((r) => [String(r.id), Number(r.ms)]));
  const lag = range(0, subs).map((s) => {
    const seen = seenAt[s];
    if (seen === undefined) throw new Error(`subscriber ${s} never saw SUCCEEDED`);
    return seen - (finishedAt.get(ids[Math.floor((s * tasks) / subs)] as string) as number);
  });
  if (!auth) {
    // The database's share does not depend on the server's settings: measured once.
    const notified = percentiles(ids.map((id) => (notifiedAt.get(id) ?? Number.NaN) - (finishedAt.get(id) as number)));
    rec.add('finished_at → a bare LISTEN sees the NOTIFY p50', 'ms', notified.p50);
    rec.add('finished_at → a bare LISTEN sees the NOTIFY p99', 'ms', notified.p99);
  }
  // The first subscriber of each task: how long before delivery starts (the rest is the burst).
  const firstPerTask = ids.map((_, t) => Math.min(...lag.filter((_, s) => Math.floor((s * tasks) / subs) === t)));
  rec.add(m.first, 'ms', percentiles(firstPerTask).p50);
  const p = percentiles(lag);
  rec.add(m.p50, 'ms', p.p50);
  rec.add(m.p99, 'ms', p.p99);
  rec.add(m.max, 'ms', Math.max(...lag));
  const events = (after.stats.events ?? 0) - (subscribed.stats.events ?? 0);
  const reads = (after.stats.changeReadQueries ?? 0) - (subscribed.stats.changeReadQueries ?? 0);
  const rows = (after.stats.taskReads ?? 0) - (subscribed.stats.taskReads ?? 0);
  if (events < 2 * tasks) throw new Error(`the server saw ${events} changes, expected at least ${2 * tasks}`);
  rec.add(m.reads, 'queries', reads / events);
  rec.add(m.rows, 'rows', rows / events);
  if (rep === 1) rec.notes.push(`fan-out${auth ? ' (auth on)' : ''}: ${subs} subscribers, ${conns} connections, ${tasks} tasks; ${events} changes, ${reads} read queries, ${rows} rows read`);
}
