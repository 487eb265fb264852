/**
 * `npx tsx bench/tools/result-cost.ts [sizes=0,2000,10000] [rounds=3] [batch=200]`: what recording a
 * worker's results costs by their size, stored as json (drizzle/0042's taskwire_complete, what
 * completeTasks calls) against stored as jsonb (drizzle/0041's overload, which stays for older
 * workers), in one migrated database on one connection, the two alternating per round so the
 * machine's load weighs on both alike. 2,000 RUNNING tasks a round, completed `batch` at a time;
 * printed per size and side: wall µs per task (round trip and commit included) and the backend's
 * CPU µs per task (/proc), medians of the rounds. docs/decisions.md "Results as json".
 */
import { readFileSync } from 'node:fs';
import { createDb, type Sql } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { completeTasks, type Completion } from '../../src/queue/sql/complete-tasks.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';

const sizes = (process.argv[2] ?? '0,2000,10000').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 3);
const batchSize = Number(process.argv[4] ?? 200);
const TASKS = 2000;

/** ~`bytes` of JSON shaped like an API's answer (an order with line items); a small object for 0. */
function resultOf(bytes: number, seq: number): string {
  if (bytes === 0) return `{"ok":true,"i":${seq}}`;
  const items: unknown[] = [];
  const order = { orderId: `ord_${seq}`, customer: { id: seq * 7, name: 'Ada Lovelace' }, currency: 'EUR', items };
  for (let i = 0; JSON.stringify(order).length < bytes; i++) items.push({ sku: `SKU-${seq}-${i}`, name: `Widget model ${i}`, qty: (i % 5) + 1, price: 19.99 + i, tags: ['blue', 'sale'] });
  return JSON.stringify(order);
}

/** drizzle/0041's form: one jsonb object keyed by `id:attempt`, stored in return_value. */
async function completeAsJsonb(sql: Sql, batch: readonly Completion[]): Promise<number> {
  const byAttempt = `{${batch.map((c) => `"${c.id}:${c.attempt}":${c.returnValue}`).join(',')}}`;
  const [row] = await sql`
    SELECT recorded FROM taskwire_complete('bench'::text, ${`{${batch.map((c) => c.id).join(',')}}`}::uuid[], ${byAttempt}::jsonb, 3600000::bigint, '{}'::uuid[])`;
  return String(row?.recorded ?? '').split(',').filter(Boolean).length;
}

function backendCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const pg = await startBenchPostgres();
const url = await createDatabase(pg.adminUrl, 'result_cost');
await migrateDatabase(url);
const db = createDb(url, { max: 1 });
const { sql } = db;
const [{ pid } = { pid: 0 }] = (await sql`SELECT pg_backend_pid() AS pid`) as unknown as { pid: number }[];

async function round(side: 'jsonb' | 'json', bytes: number): Promise<{ wall: number; cpu: number }> {
  await sql`DELETE FROM task_events`;
  await sql`DELETE FROM tasks`;
  await sql`
    INSERT INTO tasks (id, name, queue, status, locked_by, attempts, args)
    SELECT gen_random_uuid(), 'bench.result', 'default', 'RUNNING', 'bench', 1, '[]' FROM generate_series(1, ${TASKS})`;
  const ids = (await sql`SELECT id FROM tasks ORDER BY id`).map((r) => String(r.id));
  await sql`VACUUM ANALYZE tasks`;
  const values = ids.map((_, i) => resultOf(bytes, i));
  const cpu0 = backendCpuMs(pid);
  const t0 = performance.now();
  for (let b = 0; b < TASKS; b += batchSize) {
    const batch = ids.slice(b, b + batchSize).map((id, j) => ({ id, attempt: 1, returnValue: values[b + j] as string, workflowId: null }));
    const recorded = side === 'json' ? (await completeTasks(sql, 'bench', batch, 3_600_000)).length : await completeAsJsonb(sql, batch);
    if (recorded !== batch.length) throw new Error(`${side}: recorded ${recorded} of ${batch.length}`);
  }
  return { wall: ((performance.now() - t0) / TASKS) * 1000, cpu: ((backendCpuMs(pid) - cpu0) / TASKS) * 1000 };
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
const runs = new Map<string, { wall: number[]; cpu: number[] }>();
for (let r = 0; r < rounds; r++) {
  for (const bytes of sizes) {
    for (const side of r % 2 === 0 ? (['jsonb', 'json'] as const) : (['json', 'jsonb'] as const)) {
      const { wall, cpu } = await round(side, bytes);
      const key = `${bytes} B as ${side}`;
      const run = runs.get(key) ?? { wall: [], cpu: [] };
      run.wall.push(wall);
      run.cpu.push(cpu);
      runs.set(key, run);
    }
  }
}
for (const [key, run] of runs) {
  console.log(`${key.padEnd(16)} ${median(run.wall).toFixed(1).padStart(8)} µs/task wall ${median(run.cpu).toFixed(0).padStart(6)} µs/task backend CPU  (walls: ${run.wall.map((w) => w.toFixed(0)).join(', ')})`);
}
await db.close();
await pg.stop();
