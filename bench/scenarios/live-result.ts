import { ENQUEUE, gql, type EnqueueData } from '../lib/graphql-client.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { startServerProcess } from '../lib/server-process.js';
import { percentiles } from '../lib/stats.js';
import { delay, waitUntil } from '../lib/wait.js';
import { BY_FILTER, BY_ID, subscribe, wsClient } from '../lib/ws-client.js';
import { createTaskwireSystem, NOOP_TASK } from '../systems/taskwire.js';

/**
 * (f) live result: one taskwire process serving GraphQL with a worker inside (as
 * `npm start` runs it). Two measurements per repetition:
 * - a graphql-ws subscriber watching every bench task (`taskStatusChanged(filter:)`),
 *   tasks sent with `enqueueTask` over HTTP one at a time `latencyGapMs` apart:
 *   enqueueTask sent → the subscriber sees SUCCEEDED (compare with (b) enqueue→finished);
 * - what a client does for one task: enqueueTask, then `taskStatusChanged(id:)` until
 *   SUCCEEDED (one more round trip; the first event may already be the final state).
 */
export async function liveResultScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const n = job.sizes.liveTasks;
  const gap = job.sizes.latencyGapMs;
  for (let rep = 1; rep <= job.repeat; rep++) {
    const db = await freshDatabase(job.adminUrl, job.template);
    const core = await createTaskwireSystem(db.url);
    const server = await startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: true }, job.profileDir);
    const client = wsClient(server.url);
    try {
      const succeededAt = new Map<string, number>();
      const succeededWallAt = new Map<string, number>();
      const watch = subscribe(client, BY_FILTER, { filter: { name: NOOP_TASK } }, (e) => {
        if (e.status !== 'SUCCEEDED') return;
        const now = performance.now();
        succeededAt.set(e.id, now);
        succeededWallAt.set(e.id, performance.timeOrigin + now);
      });
      const enqueue = async (i: number): Promise<string> =>
        (await gql<EnqueueData>(server.url, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } })).enqueueTask.task.id;
      // Warm-up, which also proves the subscription is live before the clock runs.
      for (let i = 0; i < 20; i++) {
        const id = await enqueue(-1);
        await waitUntil(() => succeededAt.has(id), { timeoutMs: 10_000, intervalMs: 1, what: 'the warm-up task to be seen' });
      }
      const sentAt: number[] = [];
      const roundTrip: number[] = [];
      const ids: string[] = [];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const wait = t0 + i * gap - performance.now();
        if (wait > 0) await delay(wait);
        const sent = performance.now();
        sentAt.push(sent);
        ids.push(await enqueue(i));
        roundTrip.push(performance.now() - sent);
      }
      await waitUntil(() => ids.every((id) => succeededAt.has(id)), { timeoutMs: 30_000, what: 'every SUCCEEDED to reach the subscriber' });
      watch.cancel();
      const seen = percentiles(ids.map((id, i) => (succeededAt.get(id) as number) - (sentAt[i] as number)));
      rec.add(M.liveP50, 'ms', seen.p50);
      rec.add('enqueueTask → subscriber sees SUCCEEDED p95', 'ms', seen.p95);
      rec.add(M.liveP99, 'ms', seen.p99);
      rec.add('enqueueTask HTTP round trip p50', 'ms', percentiles(roundTrip).p50);
      // The server's share alone: the completing statement's finished_at → the subscriber (same host clock).
      const finished = await core.deps.db.sql`
        SELECT id, extract(epoch FROM finished_at)::float8 * 1000 AS ms FROM tasks WHERE id = ANY(${ids}::uuid[])`;
      const finishedAt = new Map(finished.map((r) => [String(r.id), Number(r.ms)]));
      const fanOut = percentiles(ids.map((id) => (succeededWallAt.get(id) as number) - (finishedAt.get(id) as number)));
      rec.add('finished_at → subscriber sees SUCCEEDED p50', 'ms', fanOut.p50);
      rec.add('finished_at → subscriber sees SUCCEEDED p99', 'ms', fanOut.p99);

      const perTask: number[] = [];
      for (let i = 0; i < Math.min(n, 100); i++) {
        const sent = performance.now();
        const id = await enqueue(i);
        let done = false;
        const s = subscribe(client, BY_ID, { id }, (e) => {
          if (e.status === 'SUCCEEDED') done = true;
        });
        await s.done;
        if (!done) throw new Error(`the stream of ${id} completed without SUCCEEDED`);
        perTask.push(performance.now() - sent);
      }
      const p = percentiles(perTask);
      rec.add('enqueueTask, then subscribe(id) → SUCCEEDED p50', 'ms', p.p50);
      rec.add('enqueueTask, then subscribe(id) → SUCCEEDED p99', 'ms', p.p99);
    } finally {
      await client.dispose();
      await server.stop();
      await core.close();
      await db.drop();
    }
  }
}
