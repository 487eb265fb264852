/**
 * `npx tsx bench/tools/claim-plan.ts [pending=100000] [limit=10,500]`: the claim's plan and
 * time on a brand-new `tasks` table that was never analyzed (autovacuum off for it, so it
 * stays so), then after ANALYZE; custom and generic plans (issue 17: ≤ 1 ms at 100,000
 * pending without statistics). Each figure is EXPLAIN (ANALYZE, BUFFERS) of the statement the
 * core really sends (captured with postgres.js's `debug` hook), run in a transaction that is
 * rolled back; median of 5. Measures the plain claim (claimTasks, both of its shapes) and the
 * limited claim of one queue (claimLimitedTasks, concurrency set).
 */
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { claimLimitedTasks } from '../../src/queue/queue-control/sql/claim-limited-tasks.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { summarize } from '../lib/stats.js';

const PENDING = Number(process.argv[2] ?? 100_000);
const LIMITS = (process.argv[3] ?? '10,500').split(',').map(Number);
const REPEAT = 5;

interface Captured { text: string; params: unknown[] }

/** Runs `call` against a client whose statements are captured, in a transaction rolled back. */
async function capture(url: string, call: (sql: postgres.Sql) => Promise<unknown>): Promise<Captured[]> {
  const seen: Captured[] = [];
  const sql = postgres(url, {
    max: 1,
    onnotice: () => undefined,
    transform: { column: { from: postgres.toCamel } },
    debug: (_conn, text, params) => seen.push({ text, params: params as unknown[] }),
  });
  try {
    await sql.begin(async (tx) => {
      await call(tx as unknown as postgres.Sql);
      throw new Rollback();
    }).catch((e: unknown) => { if (!(e instanceof Rollback)) throw e; });
  } finally {
    await sql.end();
  }
  return seen.filter((s) => /^\s*(WITH|SELECT|UPDATE)/i.test(s.text) && /tasks/.test(s.text));
}

class Rollback extends Error {}

function literal(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (Array.isArray(v)) return `'{${v.map((x) => `"${String(x)}"`).join(',')}}'`;
  return `'${String(v).replace(/'/g, "''")}'`;
}

/** Median execution time and the plan's scan/sort nodes of `stmt`, custom or generic. */
async function explain(sql: postgres.Sql, stmt: Captured, generic: boolean): Promise<{ ms: number; nodes: string }> {
  const times: number[] = [];
  let nodes = '';
  for (let i = 0; i < REPEAT; i++) {
    const plan = await sql.begin(async (tx) => {
      await tx.unsafe(`SET LOCAL plan_cache_mode = ${generic ? 'force_generic_plan' : 'force_custom_plan'}`);
      await tx.unsafe('DEALLOCATE ALL');
      await tx.unsafe(`PREPARE probe AS ${stmt.text}`);
      const args = stmt.params.length ? `(${stmt.params.map(literal).join(', ')})` : '';
      const rows = await tx.unsafe(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE probe${args}`);
      await tx.unsafe('DEALLOCATE probe');
      throw Object.assign(new Rollback(), { rows });
    }).catch((e: unknown) => { if (e instanceof Rollback) return (e as Rollback & { rows: postgres.Row[] }).rows; throw e; });
    const lines = plan.map((r) => String(r['QUERY PLAN']));
    times.push(Number(/Execution Time: ([\d.]+)/.exec(lines.join('\n'))?.[1]));
    nodes = lines.filter((l) => /Function Scan|Scan on tasks|Scan using \w+ on tasks|Scan on tasks_|Sort {2}|Bitmap Index Scan/.test(l))
      .map((l) => l.trim().replace(/^->\s*/, '').replace(/\s*\(cost.*$/, '')).join(' | ');
  }
  return { ms: summarize(times).median, nodes };
}

async function report(sql: postgres.Sql, label: string, limit: number, stmts: Captured[]): Promise<void> {
  const stmt = stmts[0];
  if (!stmt) throw new Error(`no statement captured for ${label}`);
  for (const generic of [false, true]) {
    const r = await explain(sql, stmt, generic);
    console.log(`${label.padEnd(16)} limit ${String(limit).padStart(3)} ${generic ? 'generic' : 'custom '} ${r.ms.toFixed(2).padStart(7)} ms  ${r.nodes}`);
  }
}

const pg = await startBenchPostgres();
try {
  const url = await createDatabase(pg.adminUrl, 'claim_plan');
  await migrateDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  // Never analyzed: autovacuum would analyze it some seconds after the bulk insert.
  await sql`ALTER TABLE tasks SET (autovacuum_enabled = false)`;
  // As the enqueuer makes them: uuid v7-like ids in time order, run_after = the insert's now().
  for (let done = 0; done < PENDING; done += 10_000) {
    await sql`INSERT INTO tasks (id, name, queue, args)
      SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7' || lpad(to_hex(${done}::int + g), 19, '0'))::uuid,
             'bench.noop', CASE WHEN g % 2 = 0 THEN 'default' ELSE 'other' END, jsonb_build_array(g)
      FROM generate_series(1, least(10000, ${PENDING - 0}::int - ${done}::int)) g`;
  }
  for (const phase of ['no statistics', 'after ANALYZE']) {
    if (phase === 'after ANALYZE') await sql`ANALYZE tasks`;
    const [rel] = await sql`SELECT reltuples FROM pg_class WHERE relname = 'tasks'`;
    console.log(`-- ${PENDING} pending (half in queue 'other'), ${phase} (reltuples ${rel?.reltuples})`);
    for (const limit of LIMITS) {
      // No queue held: the plain claim as a drain makes it; then 'other' concurrency-limited.
      await sql`DELETE FROM queues`;
      await report(sql, 'plain claim', limit, await capture(url, (tx) => claimTasks(tx, { workerId: 'w', limit, queues: [], leaseMs: 30_000 })));
      await sql`INSERT INTO queues (name, concurrency) VALUES ('other', 1000000)`;
      await report(sql, 'claim, someHeld', limit, await capture(url, (tx) => claimTasks(tx, { workerId: 'w', limit, queues: [], leaseMs: 30_000, someHeld: true })));
      await report(sql, 'limited claim', limit, await capture(url, (tx) => claimLimitedTasks(tx, { workerId: 'w', limit, queue: 'other', leaseMs: 30_000 })));
    }
  }
  await sql.end();
} finally {
  await pg.stop();
}
process.exit(0);
