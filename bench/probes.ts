/**
 * `npx tsx bench/probes.ts`: the three measurements behind the core change list in
 * bench/README.md ("What the profiles say"), each on its own embedded PostgreSQL database:
 *  1. commit throughput of 10 concurrent producers, with and without a NOTIFY in the transaction;
 *  2. the plan of the claim's selection (tasks_claim_idx) as a custom and as a generic
 *     (prepared, cached) plan, before and after the table has statistics: the bare SELECT,
 *     as the planner sees it; bench/tools/claim-plan.ts measures the claim statements the core
 *     sends (taskwire_claim, taskwire_queue_head; issue 17) at 100,000 pending;
 *  3. the drain rate of 20,000 tasks at concurrency 10 and 50, without and with ANALYZE.
 */
import postgres from 'postgres';
import { migrateDatabase } from '../src/db/migrate.js';
import { createDatabase, startBenchPostgres } from './lib/pg.js';
import { summarize } from './lib/stats.js';
import { ExecutionCounter, range, waitUntil } from './lib/wait.js';
import { createTaskwireSystem, type TaskwireSystem } from './systems/taskwire.js';

async function producers(sql: postgres.Sql, total: number, statement: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(range(0, 10).map(async () => {
    while (next < total) await statement(next++);
  }));
  return total / ((performance.now() - t0) / 1000);
}

async function notifyProbe(adminUrl: string): Promise<void> {
  const sql = postgres(await createDatabase(adminUrl, 'probe_notify'), { max: 10, onnotice: () => undefined });
  await sql`CREATE TABLE probe (id bigserial PRIMARY KEY, v int)`;
  const plain: number[] = [];
  const notified: number[] = [];
  for (let round = 0; round < 3; round++) {
    plain.push(await producers(sql, 5000, (i) => sql`INSERT INTO probe (v) VALUES (${i})`));
    notified.push(await producers(sql, 5000, (i) => sql`WITH x AS (INSERT INTO probe (v) VALUES (${i}) RETURNING id) SELECT pg_notify('probe', id::text) FROM x`));
  }
  await sql.end();
  const show = (v: number[]): string => `${Math.round(summarize(v).median)}/s (${v.map(Math.round).join(', ')})`;
  console.log(`1. 10 producers, one-row INSERT per transaction: ${show(plain)}; with pg_notify: ${show(notified)}`);
}

const CLAIM_SELECT = `SELECT id FROM tasks WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now()
  AND (cardinality($1::text[]) = 0 OR queue = ANY($1::text[]))
  ORDER BY priority DESC NULLS LAST, run_after, id LIMIT $2 FOR UPDATE SKIP LOCKED`;

async function withPending(adminUrl: string, name: string, count: number): Promise<{ system: TaskwireSystem; url: string }> {
  const url = await createDatabase(adminUrl, name);
  await migrateDatabase(url);
  const system = await createTaskwireSystem(url);
  await system.enqueueMany(range(0, count));
  return { system, url };
}

async function planProbe(adminUrl: string): Promise<void> {
  const { system, url } = await withPending(adminUrl, 'probe_plan', 20_000);
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  await sql.unsafe(`PREPARE claim(text[], int) AS ${CLAIM_SELECT}`);
  for (const stats of ['no statistics', 'after ANALYZE']) {
    if (stats === 'after ANALYZE') await sql`ANALYZE tasks`;
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      await sql.unsafe(`SET plan_cache_mode = ${mode}`);
      const plan = (await sql.unsafe(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE claim('{}', 10)`)).map((r) => String(r['QUERY PLAN']));
      const nodes = plan.filter((l) => / Scan |Sort  /.test(l)).map((l) => l.trim().replace(/\s*\(cost.*$/, ''));
      const time = plan.find((l) => l.startsWith('Execution Time'));
      console.log(`2. claim selection, 20,000 pending, ${stats}, ${mode}: ${nodes.join(' ← ')}; ${time}`);
    }
  }
  await sql.end();
  await system.close();
}

async function drainProbe(adminUrl: string): Promise<void> {
  for (const analyze of [false, true]) {
    for (const concurrency of [10, 50]) {
      const { system } = await withPending(adminUrl, 'probe_drain', 20_000);
      if (analyze) await system.deps.db.sql`ANALYZE tasks`;
      const runs = new ExecutionCounter();
      const t0 = performance.now();
      // The adapter's worker has concurrency 10; this probe starts its own runner.
      await system.startWorker((id) => runs.record(id));
      await system.stopWorker();
      const runner = system.deps.createRunner({ concurrency });
      await runner.start();
      await runs.waitForDistinct(20_000, 300_000);
      await waitUntil(async () => (await system.unfinished()) === 0, { timeoutMs: 60_000, intervalMs: 2, what: 'the drain' });
      const rate = 20_000 / ((performance.now() - t0) / 1000);
      await runner.stop();
      await system.close();
      console.log(`3. drain of 20,000, concurrency ${concurrency}, ${analyze ? 'after ANALYZE' : 'no statistics'}: ${Math.round(rate)} jobs/s`);
    }
  }
}

const pg = await startBenchPostgres();
try {
  await notifyProbe(pg.adminUrl);
  await planProbe(pg.adminUrl);
  await drainProbe(pg.adminUrl);
} finally {
  await pg.stop();
}
process.exit(0);
