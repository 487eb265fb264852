/**
 * `npx tsx bench/tools/enqueue-ab.ts OTHER_TREE [calls=3000] [batches=1,5,100]`: this tree's
 * `insertTasks` against another tree's (e.g. a copy of the commit before a change), on one database
 * and one connection of the pool as the queue opens it (createDb: prepared statements, custom
 * plans), calls alternating A, B, A, B … so that the machine's load weighs on both alike (issue 17:
 * a shared machine moves a whole bench run by more than the change). Rows without idempotency keys,
 * `batch` per call, as the batcher sends them. Printed per batch size: median and p90 of each
 * side's call (ms, wall, round trip included) and B/A.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createDb } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { insertTasks, type NewTaskRow } from '../../src/queue/sql/insert-tasks.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';

const other = process.argv[2];
if (!other) throw new Error('usage: enqueue-ab.ts OTHER_TREE [calls] [batches]');
const calls = Number(process.argv[3] ?? 3000);
const batches = (process.argv[4] ?? '1,5,100').split(',').map(Number);
const otherModule = (await import(pathToFileURL(path.resolve(other, 'src/queue/sql/insert-tasks.ts')).href)) as { insertTasks: typeof insertTasks };

const pg = await startBenchPostgres();
const url = await createDatabase(pg.adminUrl, 'ab');
await migrateDatabase(url);
const db = createDb(url, { max: 1 });

function rows(n: number): NewTaskRow[] {
  return Array.from({ length: n }, (_, i) => ({
    id: uuidv7(), name: 'bench.noop', queue: 'default', priority: 0, args: `[${i}]`, kwargs: '{}', maxAttempts: 3,
    runAfter: null, idempotencyKey: null, timeoutMs: null, resultTtlMs: null, backoff: null, tenant: 'default', createdBy: null, concurrencyKey: null,
  }));
}
const pct = (a: number[], p: number): number => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))] as number;

const sides = { A: otherModule.insertTasks, B: insertTasks };
for (const batch of batches) {
  const times: Record<'A' | 'B', number[]> = { A: [], B: [] };
  const n = Math.max(50, Math.round(calls / Math.sqrt(batch)));
  for (let i = 0; i < n + 50; i++) {
    for (const side of (i % 2 ? ['A', 'B'] : ['B', 'A']) as ('A' | 'B')[]) {
      const input = rows(batch);
      const t0 = performance.now();
      await sides[side](db.sql, input);
      if (i >= 50) times[side].push(performance.now() - t0); // the first 50: warm-up
    }
  }
  const a50 = pct(times.A, 0.5);
  const b50 = pct(times.B, 0.5);
  console.log(`batch ${batch}, ${n} calls each: A p50 ${a50.toFixed(3)} p90 ${pct(times.A, 0.9).toFixed(3)} ms | B p50 ${b50.toFixed(3)} p90 ${pct(times.B, 0.9).toFixed(3)} ms | B/A p50 ${(b50 / a50).toFixed(2)}`);
}
await db.close();
await pg.stop();
process.exit(0);
