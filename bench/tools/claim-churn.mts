/**
 * `npx tsx bench/tools/claim-churn.mts [RATE] [SECONDS]`: a steady load of single enqueues at RATE/s
 * for SECONDS into one in-process runner, printing every 5 s the backlog, the slots running, and the
 * STARTED and RELEASED events written (a task claimed ahead that waits its second for a slot goes back).
 * Default mix (concurrency 50): 65 % 5 ms, 30 % 20 ms, 5 % failing once with a 0.5–1 s backoff, 2 KB
 * arguments, 1–10 KB results (a tester's sustained-load mix). MIX=sleepy (concurrency 10): 80 % 5 ms,
 * 15 % sleeping 0–3 s, 5 % sleeping 60 s, where claims ahead sized by every slot churned behind the
 * slots held by the long ones. PREFETCH sets WORKER_PREFETCH_MS; AFTER the seconds sampled after the load.
 */
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { loadConfig } from '../../src/config.js';
import { createDeps } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';
import { createRegistry } from '../../src/worker/registry.js';
import { defineTask } from '../../src/worker/define-task.js';
const RATE = Number(process.argv[2] ?? 300), SECONDS = Number(process.argv[3] ?? 40);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const blob = (n: number) => ({ rows: Array.from({ length: Math.ceil(n / 60) }, (_, i) => ({ i, name: `row ${i} of the report`, v: i * 1.5 })) });
const R1 = blob(1000), R10 = blob(10000);
const fast = defineTask({ name: 'eval.fast', async run() { await sleep(5); return R1; } });
const io = defineTask({ name: 'eval.io', async run() { await sleep(20); return R10; } });
const flaky = defineTask({ name: 'eval.flaky', maxAttempts: 2, backoff: { baseMs: 500, maxMs: 1000 }, async run(_a: unknown[], ctx) { await sleep(10); if (ctx.attempt === 1) throw new Error('upstream 503'); return R1; } });
const slow = defineTask({ name: 'eval.slow', async run(a: unknown[]) { await sleep(Number(a[0])); return null; } });
const MIX = process.env.MIX === 'sleepy';
const pg = await startBenchPostgres([]);
const url = await createDatabase(pg.adminUrl, 's5mini');
await migrateDatabase(url);
const deps = await createDeps(loadConfig({ LOG_LEVEL: 'silent', ...(process.env.PREFETCH ? { WORKER_PREFETCH_MS: process.env.PREFETCH } : {}) }), { databaseUrl: url, log: silentLogger, registry: createRegistry([fast, io, flaky, slow]) });
const sql = postgres(url, { max: 1, onnotice: () => undefined });
const runner = deps.createRunner({ concurrency: MIX ? 10 : 50 });
await runner.start();
const payload = { data: 'x'.repeat(2000) };
let sent = 0; const t0 = Date.now();
const producer = (async () => {
  while (Date.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
    while (sent < due) { const k = sent++; const r = k % 20; if (MIX) { const x = Math.random(); void deps.queue.enqueue(x < 0.8 ? { name: 'eval.fast', args: [payload] } : x < 0.95 ? { name: 'eval.slow', args: [Math.floor(Math.random() * 3000)] } : { name: 'eval.slow', args: [60000] }); } else void deps.queue.enqueue({ name: r < 13 ? 'eval.fast' : r < 19 ? 'eval.io' : 'eval.flaky', args: [payload] }); }
    await sleep(5);
  }
})();
for (let s = 5; s <= SECONDS + Number(process.env.AFTER ?? 10); s += 5) {
  await sleep(5000);
  const [row] = await sql`SELECT count(*) FILTER (WHERE status IN ('PENDING','RETRYING')) AS waiting, count(*) FILTER (WHERE status = 'RUNNING') AS running, count(*) FILTER (WHERE status = 'SUCCEEDED') AS done FROM tasks`;
  const [ev] = await sql`SELECT count(*) FILTER (WHERE type = 'RELEASED') AS released, count(*) FILTER (WHERE type = 'STARTED') AS started FROM task_events`;
  const [top] = await sql`SELECT max(version) AS v FROM tasks`;
  console.log(`maxVersion=${top!.v} t=${s}s sent=${sent} waiting=${row!.waiting} runningDb=${row!.running} runnerRunning=${runner.running} done=${row!.done} started=${ev!.started} released=${ev!.released}`);
}
await producer;
await runner.stop();
await sql.end();
await deps.close?.();
await pg.stop?.();
process.exit(0);
