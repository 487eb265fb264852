/**
 * `npx tsx bench/tools/output-cost.ts [chunks=10000] [perSecond=2000] [rounds=3]`: what writing
 * output costs the worker and PostgreSQL, per chunk (issue 11, bench (j)'s writing side alone: no
 * server, no subscribers). Per round: a fresh database, one `bench.stream(chunks, perSecond)` task
 * run by the benchmark's taskwire system in this process; from the worker's start to the task's
 * end: this process's CPU µs per chunk, PostgreSQL's (every process of the cluster, from /proc),
 * and from pg_stat_statements (track_planning on) the statements with calls, rows per call and
 * exec + plan µs per chunk. With OUTPUT_CPU_PROF=FILE, a V8 CPU profile of each round's stream.
 * CPU per chunk varies little with the machine's load; timing does.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { clusterCpuUs, procStat } from '../lib/cpu.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { waitUntil } from '../lib/wait.js';
import { createTaskwireSystem, STREAM_TASK } from '../systems/taskwire.js';
import { summarize } from '../lib/stats.js';

const CHUNKS = Number(process.argv[2] ?? 10000);
const RATE = Number(process.argv[3] ?? 2000);
const ROUNDS = Number(process.argv[4] ?? 3);

const median = (xs: number[]): number => summarize(xs).median;

const pg = await startBenchPostgres(['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track_planning=on']);
const profiler = process.env.OUTPUT_CPU_PROF ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
}
const results: { workerUs: number; pgUs: number; statements: number }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const url = await createDatabase(pg.adminUrl, `oc${round}`);
  await migrateDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
  const [{ pid: backend }] = (await sql`SELECT pg_backend_pid() AS pid`) as unknown as [{ pid: number }];
  const postmaster = Number(procStat(backend)[1]);
  const system = await createTaskwireSystem(url);
  await Promise.all(Array.from({ length: 10 }, () => system.deps.db.sql`SELECT 1`));
  await system.deps.queue.enqueue({ name: STREAM_TASK, args: [CHUNKS, RATE] });
  await sql`SELECT pg_stat_statements_reset()`;
  const pgBefore = clusterCpuUs(postmaster);
  const cpu0 = process.cpuUsage();
  if (profiler) await profiler.post('Profiler.start');
  const t0 = performance.now();
  await system.startWorker(() => undefined);
  await waitUntil(async () => (await system.unfinished()) === 0, { timeoutMs: 120000, intervalMs: 20, what: 'the stream' });
  const ms = performance.now() - t0;
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(`${process.env.OUTPUT_CPU_PROF}.${round}.cpuprofile`, JSON.stringify(profile));
  }
  const cpu = process.cpuUsage(cpu0);
  const pgAfter = clusterCpuUs(postmaster);
  const rows = await sql`
    SELECT calls::int, rows::int, total_exec_time AS exec_ms, total_plan_time AS plan_ms,
           left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS q
    FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY total_exec_time + total_plan_time DESC LIMIT 6`;
  // The append: taskwire_append_output (drizzle/0021) since fa9b195, the statement before it.
  const appends = rows.find((s) => /taskwire_append_output|jsonb_to_recordset/.test(String(s.q)));
  const r = { workerUs: (cpu.user + cpu.system) / CHUNKS, pgUs: (pgAfter - pgBefore) / CHUNKS, statements: Number(appends?.calls ?? 0) };
  results.push(r);
  console.log(`round ${round}: ${Math.round(ms)} ms; user ${Math.round(cpu.user / 1000)} ms sys ${Math.round(cpu.system / 1000)} ms; worker ${r.workerUs.toFixed(1)} µs CPU/chunk; PostgreSQL ${r.pgUs.toFixed(1)} µs CPU/chunk; ${(CHUNKS / Math.max(1, r.statements)).toFixed(1)} chunks per statement`);
  for (const s of rows) {
    const per = ((Number(s.exec_ms) + Number(s.plan_ms)) * 1000) / CHUNKS;
    console.log(`  ${String(s.calls).padStart(6)} calls ${(Number(s.rows) / Math.max(1, Number(s.calls))).toFixed(1).padStart(7)} rows/call ${per.toFixed(1).padStart(6)} µs/chunk (plan ${((Number(s.plan_ms) * 1000) / CHUNKS).toFixed(1)})  ${String(s.q)}`);
  }
  await system.stopWorker();
  await system.close();
  await sql.end();
}
console.log(
  `median of ${ROUNDS}: worker ${median(results.map((r) => r.workerUs)).toFixed(1)} µs/chunk; PostgreSQL ${median(results.map((r) => r.pgUs)).toFixed(1)} µs/chunk; ` +
    `${median(results.map((r) => CHUNKS / Math.max(1, r.statements))).toFixed(1)} chunks per statement`,
);
await pg.stop();
process.exit(0);
