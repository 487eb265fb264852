/**
 * `npx tsx bench/tools/feed-read-cost.ts [tasks=30000] [pageSizes=250,1000,5000]`: what a read of the
 * event feed costs (issue 11, (i)'s feed lag). A fresh database, `tasks` no-op tasks drained (3
 * events each), then the whole feed read from its start in pages of each size: wall ms per page and
 * µs per event on the client (query, transfer, parse), and PostgreSQL's own execution time of the
 * page's query (EXPLAIN ANALYZE of the same statement at the same position).
 */
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { readFeed } from '../../src/queue/event-feed.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { summarize } from '../lib/stats.js';
import { range, waitUntil } from '../lib/wait.js';
import { createTaskwireSystem } from '../systems/taskwire.js';

const TASKS = Number(process.argv[2] ?? 30000);
const SIZES = (process.argv[3] ?? '250,1000,5000').split(',').map(Number);

const pg = await startBenchPostgres(['-c', 'shared_preload_libraries=pg_stat_statements']);
try {
  const url = await createDatabase(pg.adminUrl, 'feed_read_cost');
  await migrateDatabase(url);
  const system = await createTaskwireSystem(url);
  await system.deps.queue.enqueueMany(range(0, TASKS).map((i) => ({ name: 'bench.noop', args: [i] })));
  await system.startWorker(() => undefined);
  await waitUntil(async () => (await system.unfinished()) === 0, { timeoutMs: 300_000, intervalMs: 50, what: 'the drain' });
  await system.stopWorker();
  const sql = postgres(url, { max: 1, onnotice: () => undefined, transform: postgres.camel });
  await sql`VACUUM ANALYZE task_events`;
  await sql`VACUUM ANALYZE tasks`;
  await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
  for (const size of SIZES) {
    await sql`SELECT pg_stat_statements_reset()`;
    for (let round = 0; round < 2; round++) {
      let after = { tx: '0', seq: 0 };
      const wall: number[] = [];
      let events = 0;
      for (;;) {
        const t0 = performance.now();
        const page = await readFeed(sql, { after, limit: size });
        wall.push(performance.now() - t0);
        events += page.events.length;
        if (!page.full) break;
        after = page.position;
      }
      const w = summarize(wall);
      const total = wall.reduce((a, b) => a + b, 0);
      console.log(`page ${size} (round ${round + 1}): ${wall.length} pages, ${events} events; wall per page median ${w.median.toFixed(2)} ms (max ${w.max.toFixed(1)}); ${((total * 1000) / events).toFixed(2)} µs per event`);
    }
    const [stat] = await sql`
      SELECT calls::int, (total_exec_time / calls)::float8 AS ms, (total_plan_time / calls)::float8 AS plan_ms
      FROM pg_stat_statements WHERE query LIKE '%WITH horizon AS%' ORDER BY calls DESC LIMIT 1`;
    console.log(`page ${size}: PostgreSQL per call ${Number(stat?.ms).toFixed(2)} ms executing (${stat?.calls} calls)`);
    // PostgreSQL's part: the feed query's plan and execution time at a position in the middle.
    const mid = await sql`SELECT tx::text AS tx, seq FROM task_events ORDER BY tx, seq OFFSET ${Math.floor(TASKS * 1.5)} LIMIT 1`;
    const plan = await sql.unsafe(
      `EXPLAIN (ANALYZE, BUFFERS)
    WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
    page AS (
      SELECT e.task_id, e.version, e.type, e.status, e.at, e.attempt, e.worker_id, e.progress, e.error, e.output, e.tx::text AS tx, e.seq,
             t.name AS task_name, t.queue AS task_queue, t.tenant AS task_tenant, t.enqueued_at AS task_enqueued_at
      FROM task_events e JOIN tasks t ON t.id = e.task_id
      WHERE (e.tx, e.seq) > ($1::xid8, $2::bigint)
        AND e.tx < (SELECT xmin FROM horizon)
        AND ($3::xid8 IS NULL OR (e.tx, e.seq) <= ($3::xid8, $4::bigint))
      ORDER BY e.tx, e.seq
      LIMIT ${size}
    )
    SELECT page.*, EXISTS (SELECT 1 FROM task_events h WHERE h.tx >= (SELECT xmin FROM horizon)) AS held
    FROM (SELECT 1) one LEFT JOIN page ON true
    ORDER BY page.tx::xid8, page.seq`,
      [String(mid[0]?.tx), Number(mid[0]?.seq), null, null],
    );
    console.log(plan.map((r) => String(Object.values(r)[0])).join('\n'));
  }
  await sql.end();
  await system.close();
} finally {
  await pg.stop();
}
