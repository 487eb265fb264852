/**
 * `npx tsx bench/tools/drain-cost.ts [tasks=20000] [rounds=3]`: what a drain costs, per task, on both
 * sides (issue 17). Per round: a fresh database, `tasks` no-op tasks bulk-enqueued, one runner of
 * the benchmark's taskwire system (default settings, concurrency 10) started in this process, the
 * clock from the start until every task ran and none is unfinished. Prints per round and the
 * median: jobs/s; the worker's CPU µs per task (this process: the enqueue is before the clock, and
 * the harness only counts runs) and its event-loop utilization (idle = waiting on round trips);
 * PostgreSQL's CPU µs per task (every process of the cluster, from /proc); and, from
 * pg_stat_statements (track_planning on), each statement's calls, rows per call and exec + plan µs
 * per task. With DRAIN_CPU_PROF=FILE, a V8 CPU profile of the drains alone (the clock's span) is
 * written there, for bench/tools/profile-summary.ts (with DRAIN_HEAP_PROF=1 too, a sampling heap
 * profile of what the drain allocates instead). With DRAIN_HISTORY=N, each round first fills `tasks`
 * with N finished tasks as scenario (h) does (then VACUUM ANALYZE, CHECKPOINT), to see what a large
 * history costs the drain. With DRAIN_FAIL=N, every attempt throws and each task is enqueued with N
 * attempts (1 ms backoff): the failure path's cost (N=1: every task FAILED at once; more: RETRYING first).
 * With DRAIN_SNOOZE=1, each task's first run asks to run again in 1 ms (ctx.snooze), its second succeeds.
 * With DRAIN_RESULT_BYTES=N, each run returns a result of ~N bytes of JSON (an order with line items,
 * made once): what keeping results costs (docs/decisions.md "Results as json").
 * Timing varies with the machine's load; CPU per task and statement µs per task much less.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { clusterCpuUs, procStat } from '../lib/cpu.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { ExecutionCounter, range, waitUntil } from '../lib/wait.js';
import { insertHistory } from '../scenarios/history.js';
import { createTaskwireSystem, NOOP_TASK } from '../systems/taskwire.js';
import { summarize } from '../lib/stats.js';

const TASKS = Number(process.argv[2] ?? 20000);
const ROUNDS = Number(process.argv[3] ?? 3);
const HISTORY = Number(process.env.DRAIN_HISTORY ?? 0);
const FAIL_ATTEMPTS = Number(process.env.DRAIN_FAIL ?? 0);
const SNOOZE = process.env.DRAIN_SNOOZE === '1';
const RESULT_BYTES = Number(process.env.DRAIN_RESULT_BYTES ?? 0);
const RESULT = RESULT_BYTES > 0 ? resultOf(RESULT_BYTES) : undefined;

/** ~`bytes` of JSON shaped like an API's answer. */
function resultOf(bytes: number): unknown {
  const items: unknown[] = [];
  const order = { orderId: 'ord_1', customer: { id: 7, name: 'Ada Lovelace' }, currency: 'EUR', items };
  for (let i = 0; JSON.stringify(order).length < bytes; i++) items.push({ sku: `SKU-${i}`, name: `Widget model ${i}`, qty: (i % 5) + 1, price: 19.99 + i, tags: ['blue', 'sale'] });
  return order;
}

const median = (xs: number[]): number => summarize(xs).median;

const pg = await startBenchPostgres(['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track_planning=on']);
const profiler = process.env.DRAIN_CPU_PROF ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
}
const results: { rate: number; workerUs: number; pgUs: number; elu: number }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const url = await createDatabase(pg.adminUrl, `dc${round}`);
  await migrateDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
  const [{ pid: backend }] = (await sql`SELECT pg_backend_pid() AS pid`) as unknown as [{ pid: number }];
  const postmaster = Number(procStat(backend)[1]);
  const system = await createTaskwireSystem(url);
  if (HISTORY > 0) console.log(`round ${round}: ${HISTORY} finished tasks inserted in ${Math.round(await insertHistory(system, HISTORY))} ms`);
  // Open the pool's connections before the clock, as (m) does.
  await Promise.all(Array.from({ length: 10 }, () => system.deps.db.sql`SELECT 1`));
  if (FAIL_ATTEMPTS > 0) {
    const inputs = range(0, TASKS).map((seq) => ({ name: NOOP_TASK, args: [seq], maxAttempts: FAIL_ATTEMPTS, backoff: { baseMs: 1, maxMs: 1 } }));
    await system.deps.queue.enqueueMany(inputs);
  } else {
    await system.enqueueMany(range(0, TASKS));
  }
  await sql`SELECT pg_stat_statements_reset()`;
  const runs = new ExecutionCounter();
  const pgBefore = clusterCpuUs(postmaster);
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  if (profiler) await profiler.post(process.env.DRAIN_HEAP_PROF ? 'HeapProfiler.startSampling' : 'Profiler.start', process.env.DRAIN_HEAP_PROF ? { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } : undefined);
  const t0 = performance.now();
  const snoozed = new Set<string>();
  await system.startWorker((id, _seq, ctx) => {
    runs.record(id);
    if (FAIL_ATTEMPTS > 0) throw new Error('planned failure');
    if (SNOOZE && !snoozed.has(id)) {
      snoozed.add(id);
      ctx?.snooze(1);
    }
    return RESULT;
  });
  await runs.waitForDistinct(TASKS, 300000);
  await waitUntil(async () => (await system.unfinished()) === 0, { timeoutMs: 60000, intervalMs: 2, what: 'drain' });
  const ms = performance.now() - t0;
  if (profiler) {
    if (process.env.DRAIN_HEAP_PROF) {
      const { profile } = await profiler.post('HeapProfiler.stopSampling');
      writeFileSync(`${process.env.DRAIN_CPU_PROF}.${round}.heapprofile`, JSON.stringify(profile));
    } else {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(`${process.env.DRAIN_CPU_PROF}.${round}.cpuprofile`, JSON.stringify(profile));
    }
  }
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const pgAfter = clusterCpuUs(postmaster);
  const r = { rate: TASKS / (ms / 1000), workerUs: (cpu.user + cpu.system) / TASKS, pgUs: (pgAfter - pgBefore) / TASKS, elu: elu.utilization };
  results.push(r);
  console.log(`round ${round}: ${Math.round(r.rate)} jobs/s; worker ${r.workerUs.toFixed(1)} µs CPU/task, event loop ${Math.round(100 * r.elu)}% busy; PostgreSQL ${r.pgUs.toFixed(1)} µs CPU/task`);
  const rows = await sql`
    SELECT calls::int, rows::int, total_exec_time AS exec_ms, total_plan_time AS plan_ms,
           left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS q
    FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 8`;
  for (const s of rows) {
    const perTask = ((Number(s.exec_ms) + Number(s.plan_ms)) * 1000) / TASKS;
    console.log(`  ${String(s.calls).padStart(6)} calls ${(Number(s.rows) / Math.max(1, Number(s.calls))).toFixed(1).padStart(7)} rows/call ${perTask.toFixed(1).padStart(6)} µs/task (plan ${((Number(s.plan_ms) * 1000) / TASKS).toFixed(1)})  ${String(s.q)}`);
  }
  await system.stopWorker();
  await system.close();
  await sql.end();
}
console.log(
  `median of ${ROUNDS}: ${Math.round(median(results.map((r) => r.rate)))} jobs/s; worker ${median(results.map((r) => r.workerUs)).toFixed(1)} µs/task; ` +
    `PostgreSQL ${median(results.map((r) => r.pgUs)).toFixed(1)} µs/task; event loop ${Math.round(100 * median(results.map((r) => r.elu)))}% busy`,
);
await pg.stop();
process.exit(0);
