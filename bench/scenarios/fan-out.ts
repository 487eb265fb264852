import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'graphql-ws';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { percentiles } from '../lib/stats.js';
import { range, waitUntil } from '../lib/wait.js';
import { BY_ID, subscribe, wsClient } from '../lib/ws-client.js';
import { createTaskwireSystem, NOOP_TASK } from '../systems/taskwire.js';

const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * (g) fan-out: one server process (no worker) holds `fanOutSubscribers` graphql-ws
 * subscriptions over `fanOutConnections` connections, watching `fanOutTasks` pending tasks
 * (an equal share each). Then a worker in a separate process runs the tasks. Measured:
 * per subscriber, the task's finished_at (set in the completing statement) → that
 * subscriber receiving SUCCEEDED (same host clock); the server's read queries per change
 * (its own counters); server RSS and heap growth per subscriber (after full GCs, from
 * before the clients connected to after every subscription got its first event).
 */
export async function fanOutScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const { fanOutSubscribers: subs, fanOutConnections: conns, fanOutTasks: tasks } = job.sizes;
  for (let rep = 1; rep <= job.repeat; rep++) {
    const db = await freshDatabase(job.adminUrl, job.template);
    const core = await createTaskwireSystem(db.url);
    let server: ServerProcess | undefined;
    let worker: ServerProcess | undefined;
    const clients: Client[] = [];
    try {
      const created = await core.deps.queue.enqueueMany(range(0, tasks).map((i) => ({ name: NOOP_TASK, args: [i] })));
      const ids = created.map((t) => t.id);
      server = await startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: false }, job.profileDir);
      const before = await server.stats(true);
      if (job.profileDir) {
        await mkdir(job.profileDir, { recursive: true });
        await server.heapSnapshot(path.join(job.profileDir, `server-before-${rep}.heapsnapshot`));
      }
      for (let c = 0; c < conns; c++) clients.push(wsClient(server.url));

      let ready = 0;
      const seenAt = new Array<number>(subs);
      const streams: Promise<void>[] = [];
      for (let s = 0; s < subs; s++) {
        const id = ids[Math.floor((s * tasks) / subs)] as string;
        let first = true;
        const stream = subscribe(clients[s % conns] as Client, BY_ID, { id }, (e) => {
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
      if (job.profileDir) await server.heapSnapshot(path.join(job.profileDir, `server-subscribed-${rep}.heapsnapshot`));
      rec.add(M.rssPerSubscriber, 'bytes', (subscribed.memory.rss - before.memory.rss) / subs);
      rec.add('server heap per subscriber', 'bytes', (subscribed.memory.heapUsed - before.memory.heapUsed) / subs);

      // A bare LISTEN in this process: when the completion's NOTIFY arrives, before any server work.
      const notifiedAt = new Map<string, number>();
      await core.watchFinished((id) => notifiedAt.set(id, wallNow()));
      worker = await startServerProcess(job.root, { databaseUrl: db.url, server: false, worker: true }, job.profileDir);
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
      const notified = percentiles(ids.map((id) => (notifiedAt.get(id) ?? Number.NaN) - (finishedAt.get(id) as number)));
      rec.add('finished_at → a bare LISTEN sees the NOTIFY p50', 'ms', notified.p50);
      rec.add('finished_at → a bare LISTEN sees the NOTIFY p99', 'ms', notified.p99);
      // The first subscriber of each task: how long before delivery starts (the rest is the burst).
      const firstPerTask = ids.map((_, t) => Math.min(...lag.filter((_, s) => Math.floor((s * tasks) / subs) === t)));
      rec.add('change → first subscriber of the task sees it p50', 'ms', percentiles(firstPerTask).p50);
      const p = percentiles(lag);
      rec.add(M.fanOutP50, 'ms', p.p50);
      rec.add(M.fanOutP99, 'ms', p.p99);
      rec.add('change → every subscriber sees it max', 'ms', Math.max(...lag));
      const events = (after.stats.events ?? 0) - (subscribed.stats.events ?? 0);
      const reads = (after.stats.changeReadQueries ?? 0) - (subscribed.stats.changeReadQueries ?? 0);
      const rows = (after.stats.taskReads ?? 0) - (subscribed.stats.taskReads ?? 0);
      if (events < 2 * tasks) throw new Error(`the server saw ${events} changes, expected at least ${2 * tasks}`);
      rec.add(M.readsPerChange, 'queries', reads / events);
      rec.add('rows read per change (per server)', 'rows', rows / events);
      if (rep === 1) rec.notes.push(`fan-out: ${subs} subscribers, ${conns} connections, ${tasks} tasks; ${events} changes, ${reads} read queries, ${rows} rows read`);
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
      await worker?.stop();
      await server?.stop();
      await core.close();
      await db.drop();
    }
  }
}
