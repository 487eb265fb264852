/**
 * `npx tsx bench/tools/enqueue-plan.ts [enqueues=2000] [batch=1]`: what the database spends on a
 * single enqueue's statement (issue 17, scenario b/c), planning against running. A fresh database,
 * then `enqueues` enqueues one after another through the queue's single-enqueue path (the batcher,
 * storeTasks, insertTasks), `batch` at a time (batch > 1: that many enqueue() calls at once, which
 * the batcher sends as one statement). Printed from pg_stat_statements (track = all, with planning):
 * every statement of the run with calls, mean plan and mean execution ms, nested ones (a function's
 * body) included; then the client's wall time per statement.
 */
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { createTaskwireSystem } from '../systems/taskwire.js';

const n = Number(process.argv[2] ?? 2000);
const batch = Number(process.argv[3] ?? 1);
const pg = await startBenchPostgres([
  '-c', 'shared_preload_libraries=pg_stat_statements',
  '-c', 'pg_stat_statements.track=all',
  '-c', 'pg_stat_statements.track_planning=on',
]);
const url = await createDatabase(pg.adminUrl, 'ep');
await migrateDatabase(url);
const sql = postgres(url, { max: 1, onnotice: () => undefined });
await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
const system = await createTaskwireSystem(url);
// Warm-up: connections opened, statements prepared, functions' plans cached.
for (let i = 0; i < 50; i++) await Promise.all(Array.from({ length: batch }, (_, j) => system.enqueue(i * batch + j)));
await sql`SELECT pg_stat_statements_reset()`;
const t0 = performance.now();
for (let i = 0; i < n / batch; i++) await Promise.all(Array.from({ length: batch }, (_, j) => system.enqueue(i * batch + j)));
const wallMs = performance.now() - t0;
const rows = await sql`
  SELECT calls, toplevel, round(mean_plan_time::numeric, 3) AS plan_ms, round(mean_exec_time::numeric, 3) AS exec_ms,
         left(regexp_replace(query, '\\s+', ' ', 'g'), 100) AS q
  FROM pg_stat_statements WHERE calls >= ${Math.floor(n / batch / 2)} AND query NOT LIKE '%pg_stat_statements%'
  ORDER BY toplevel DESC, total_exec_time DESC LIMIT 10`;
console.log(`${n} enqueues, ${batch} per statement: ${((wallMs / n) * batch).toFixed(3)} ms wall per statement`);
console.log('calls toplevel plan_ms exec_ms query');
for (const r of rows) console.log(r.calls, r.toplevel, r.plan_ms, r.exec_ms, r.q);
await system.close();
await sql.end();
await pg.stop();
process.exit(0);
