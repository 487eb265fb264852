/**
 * `npx tsx bench/tools/queue-stats-cost.ts [finished=1000000] [rounds=7]`: what a read of the queues'
 * stats costs on a long history (the DBA's audit at 1,050,000 tasks: the `queues` query and the
 * dashboard's queue panel, polling every 5 s, counted the whole table). A fresh database, `finished`
 * tasks over 8 queues (98 % SUCCEEDED, 1 % FAILED, 1 % CANCELLED), a backlog of 1,000 PENDING, 50
 * RUNNING, 20 RETRYING and 10 BLOCKED, VACUUM ANALYZE; then queueControl.list() read both ways ('all':
 * every status, one grouped scan; 'live': the live statuses through the partial indexes), as an
 * admin and as the default tenant, and one queue's stats (a pause's answer): client wall ms, medians.
 */
import { performance } from 'node:perf_hooks';
import { createDb } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createQueueControl } from '../../src/queue/queue-control/index.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { summarize } from '../lib/stats.js';

const FINISHED = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = Number(process.argv[3] ?? 7);

const pg = await startBenchPostgres();
try {
  const url = await createDatabase(pg.adminUrl, 'queue_stats_cost');
  await migrateDatabase(url);
  const db = createDb(url, { max: 2 });
  const { sql } = db;
  const t0 = performance.now();
  for (let from = 0; from < FINISHED; from += 100_000) {
    await sql`
      INSERT INTO tasks (id, name, queue, status, run_after, enqueued_at, finished_at)
      SELECT gen_random_uuid(), 'bench.noop', 'q' || (g % 8),
             (CASE WHEN g % 100 = 0 THEN 'FAILED' WHEN g % 100 = 1 THEN 'CANCELLED' ELSE 'SUCCEEDED' END)::task_status,
             now() - interval '1 day', now() - interval '1 day', now()
      FROM generate_series(${from}::int, ${Math.min(from + 100_000, FINISHED) - 1}::int) g`;
  }
  for (const [status, n] of [['PENDING', 1000], ['RUNNING', 50], ['RETRYING', 20], ['BLOCKED', 10]] as const) {
    await sql`
      INSERT INTO tasks (id, name, queue, status, run_after)
      SELECT gen_random_uuid(), 'bench.noop', 'q' || (g % 8), ${status}::task_status, now() - interval '1 minute'
      FROM generate_series(1, ${n}::int) g`;
  }
  await sql`VACUUM ANALYZE tasks`;
  const [size] = await sql`SELECT count(*)::int AS n, pg_size_pretty(pg_total_relation_size('tasks')) AS size FROM tasks`;
  console.log(`${size?.n} tasks (${size?.size} with indexes), loaded in ${((performance.now() - t0) / 1000).toFixed(0)} s; ${ROUNDS} rounds each`);

  const admin = createQueueControl(sql, null);
  const tenant = createQueueControl(sql, 'default');
  const reads: [string, () => Promise<unknown>][] = [
    ['admin list, all', () => admin.list()],
    ['admin list, live', () => admin.list('live')],
    ['tenant default list, all', () => tenant.list()],
    ['tenant default list, live', () => tenant.list('live')],
    ['one queue (get q3), all', () => admin.get('q3')],
    ['one queue (get q3), live', () => admin.get('q3', 'live')],
  ];
  for (const [what, read] of reads) {
    await read(); // warm: plans cached, pages in shared buffers as a polling dashboard's would be
    const ms: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const start = performance.now();
      await read();
      ms.push(performance.now() - start);
    }
    const s = summarize(ms);
    console.log(`${what}: median ${s.median.toFixed(2)} ms (min ${s.min.toFixed(2)}, max ${s.max.toFixed(2)})`);
  }
  const [same] = [JSON.stringify((await admin.list('live')).map((q) => [q.name, q.stats.counts]))];
  const full = (await admin.list()).map((q) => [q.name, { BLOCKED: q.stats.counts.BLOCKED, PENDING: q.stats.counts.PENDING, RUNNING: q.stats.counts.RUNNING, RETRYING: q.stats.counts.RETRYING }]);
  console.log(`live counts equal the full read's: ${same === JSON.stringify(full)}`);
  await db.close();
} finally {
  await pg.stop();
}
