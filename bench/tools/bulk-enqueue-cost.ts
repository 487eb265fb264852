/**
 * `npx tsx bench/tools/bulk-enqueue-cost.ts [rounds=3] [tasks=20000]`: where the time of
 * scenario (d) goes (issue 17). Per round, a fresh database (taskwire and graphile-worker
 * migrated, as the bench's template), then for each system one warm-up call of 10 and one
 * bulk call of `tasks`, as scenario (d) does; for taskwire also the Node side alone
 * (`prepareTask` of every input, no database). Printed per system: the call's wall time, the
 * database's execution time of its statements and their WAL (pg_stat_statements, reset before
 * the call), µs and WAL bytes per task. Medians over the rounds.
 */
import { makeWorkerUtils, Logger } from 'graphile-worker';
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { prepareTask } from '../../src/queue/enqueue.js';
import { createDatabase, dropDatabase, startBenchPostgres } from '../lib/pg.js';
import { range } from '../lib/wait.js';
import { createTaskwireSystem, NOOP_TASK } from '../systems/taskwire.js';

const rounds = Number(process.argv[2] ?? 3);
const n = Number(process.argv[3] ?? 20000);
const pg = await startBenchPostgres(['-c', 'shared_preload_libraries=pg_stat_statements']);
const silent = new Logger(() => () => undefined);

interface Sample {
  wallMs: number;
  dbMs: number;
  walBytes: number;
  statements: string;
}
const samples: Record<string, Sample[]> = { taskwire: [], 'graphile-worker': [], 'taskwire prepare (Node only)': [] };

async function statementCost(sql: postgres.Sql): Promise<Omit<Sample, 'wallMs'>> {
  const rows = await sql`
    SELECT calls, total_exec_time AS ms, wal_bytes, left(regexp_replace(query, '\s+', ' ', 'g'), 60) AS q
    FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC`;
  return {
    dbMs: rows.reduce((s, r) => s + Number(r.ms), 0),
    walBytes: rows.reduce((s, r) => s + Number(r.wal_bytes), 0),
    statements: rows
      .slice(0, 3)
      .map((r) => `${r.calls}× ${Number(r.ms).toFixed(1)} ms ${r.q}`)
      .join(' | '),
  };
}

for (let round = 0; round < rounds; round++) {
  const name = `bec${round}`;
  const url = await createDatabase(pg.adminUrl, name);
  await migrateDatabase(url);
  const utils = await makeWorkerUtils({ connectionString: url, logger: silent });
  await utils.migrate();
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;

  const system = await createTaskwireSystem(url);
  await system.enqueueMany(range(1_000_000, 10));
  const inputs = range(0, n).map((seq) => ({ name: NOOP_TASK, args: [seq] }));
  const t = performance.now();
  inputs.forEach((input, i) => prepareTask(system.deps.registry, input, { maxArgsBytes: 65536 }, undefined, `[${i}].`));
  samples['taskwire prepare (Node only)']?.push({ wallMs: performance.now() - t, dbMs: 0, walBytes: 0, statements: '' });
  await sql`SELECT pg_stat_statements_reset()`;
  let t0 = performance.now();
  await system.enqueueMany(range(0, n));
  samples.taskwire?.push({ wallMs: performance.now() - t0, ...(await statementCost(sql)) });
  await system.close();

  await utils.addJobs(range(1_000_000, 10).map((seq) => ({ identifier: 'noop', payload: { seq } })));
  const jobs = range(0, n).map((seq) => ({ identifier: 'noop', payload: { seq } }));
  await sql`SELECT pg_stat_statements_reset()`;
  t0 = performance.now();
  await utils.addJobs(jobs);
  samples['graphile-worker']?.push({ wallMs: performance.now() - t0, ...(await statementCost(sql)) });
  await utils.release();
  await sql.end();
  await dropDatabase(pg.adminUrl, name);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
for (const [system, list] of Object.entries(samples)) {
  const wall = median(list.map((s) => s.wallMs));
  const db = median(list.map((s) => s.dbMs));
  const wal = median(list.map((s) => s.walBytes));
  console.log(
    `${system.padEnd(30)} wall ${wall.toFixed(0)} ms (${((wall * 1000) / n).toFixed(1)} µs/task)  db ${db.toFixed(0)} ms (${((db * 1000) / n).toFixed(1)} µs/task)  WAL ${(wal / n).toFixed(0)} B/task`,
  );
  for (const s of list) if (s.statements) console.log(`    ${s.wallMs.toFixed(0)} ms: ${s.statements}`);
}
await pg.stop();
process.exit(0);
