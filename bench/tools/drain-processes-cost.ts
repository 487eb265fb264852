/**
 * `npx tsx bench/tools/drain-processes-cost.ts [tasks=20000] [rounds=2] [processes=1,4]`: the CPU a
 * drain costs per task with one worker process and with several (scenario (m), issue 17). Per
 * round and per process count (alternating): a fresh database, `tasks` no-op tasks bulk-enqueued,
 * that many bench/lib/drain-worker-child.ts processes opened (as in (m)), the clock from the start
 * cue until every task ran and none is unfinished. Prints jobs/s, the worker processes' CPU µs per
 * task (from /proc, all of them), PostgreSQL's (every process of the cluster) and their sum, and
 * the rate that sum allows on this machine's cores: cores ÷ CPU per task, the ceiling whatever
 * the number of processes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { clusterCpuUs, processCpuUs, procStat } from '../lib/cpu.js';
import type { DrainWorkerReply, DrainWorkerRequest } from '../lib/drain-worker-child.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { range, waitUntil } from '../lib/wait.js';
import { createTaskwireSystem } from '../systems/taskwire.js';
import { migrateDatabase } from '../../src/db/migrate.js';

const TASKS = Number(process.argv[2] ?? 20000);
const ROUNDS = Number(process.argv[3] ?? 2);
const COUNTS = (process.argv[4] ?? '1,4').split(',').map(Number);

interface Worker {
  child: ChildProcess;
  ran: number;
}
function reply(w: Worker, type: DrainWorkerReply['type']): Promise<DrainWorkerReply> {
  return new Promise((resolve, reject) => {
    const on = (m: unknown): void => {
      const r = m as DrainWorkerReply;
      if (r.type === 'error') reject(new Error(r.error));
      else if (r.type === type) {
        w.child.off('message', on);
        resolve(r);
      }
    };
    w.child.on('message', on);
  });
}
const each = (ws: Worker[], request: DrainWorkerRequest, type: DrainWorkerReply['type']): Promise<DrainWorkerReply[]> =>
  Promise.all(ws.map((w) => {
    const answer = reply(w, type);
    w.child.send(request);
    return answer;
  }));

const root = path.resolve(import.meta.dirname, '../..');
const workers: Worker[] = await Promise.all(
  range(0, Math.max(...COUNTS)).map(async () => {
    const child = fork(path.join(root, 'bench/lib/drain-worker-child.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const w: Worker = { child, ran: 0 };
    child.on('message', (m) => {
      const r = m as DrainWorkerReply;
      if (r.type === 'progress') w.ran = r.ran;
    });
    await reply(w, 'ready');
    return w;
  }),
);
const pg = await startBenchPostgres(['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track_planning=on']);
const cores = os.cpus().length;
let db = 0;
for (let round = 1; round <= ROUNDS; round++) {
  for (const count of round % 2 === 1 ? COUNTS : [...COUNTS].reverse()) {
    const url = await createDatabase(pg.adminUrl, `dp${++db}`);
    await migrateDatabase(url);
    const core = await createTaskwireSystem(url);
    await core.enqueueMany(range(0, TASKS));
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    const [{ pid }] = (await sql`SELECT pg_backend_pid() AS pid`) as unknown as [{ pid: number }];
    const postmaster = Number(procStat(pid)[1]);
    await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
    await sql`SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')`;
    const ws = workers.slice(0, count);
    for (const w of ws) w.ran = 0;
    await each(ws, { type: 'open', url }, 'opened');
    const pg0 = clusterCpuUs(postmaster);
    const w0 = ws.map((w) => processCpuUs(w.child.pid as number));
    const t0 = performance.now();
    await each(ws, { type: 'start' }, 'started');
    await waitUntil(() => ws.reduce((s, w) => s + w.ran, 0) >= TASKS, { timeoutMs: 120_000, intervalMs: 1, what: 'runs' });
    await waitUntil(async () => (await core.unfinished()) === 0, { timeoutMs: 60_000, intervalMs: 2, what: 'drain' });
    const seconds = (performance.now() - t0) / 1000;
    const workerUs = ws.reduce((s, w, i) => s + processCpuUs(w.child.pid as number) - (w0[i] as number), 0) / TASKS;
    const pgUs = (clusterCpuUs(postmaster) - pg0) / TASKS;
    await each(ws, { type: 'stop' }, 'stopped');
    const total = workerUs + pgUs;
    console.log(
      `round ${round}, ${count} process(es): ${Math.round(TASKS / seconds)} jobs/s; workers ${workerUs.toFixed(1)} + PostgreSQL ${pgUs.toFixed(1)} = ${total.toFixed(1)} µs CPU/task; ` +
        `${cores} cores allow ${Math.round((cores * 1e6) / total)} jobs/s; used ${((TASKS / seconds) * total / 1e6).toFixed(2)} cores`,
    );
    const stmts = await sql`
      SELECT calls::int, rows::int, total_exec_time AS exec_ms, total_plan_time AS plan_ms, shared_blks_hit + shared_blks_read AS blocks,
             left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 60) AS q
      FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' AND calls > 5 ORDER BY total_exec_time DESC LIMIT 4`;
    for (const r of stmts) {
      console.log(`   ${r.calls} calls ${(Number(r.rows) / Number(r.calls)).toFixed(0)} rows/call; exec ${((Number(r.exec_ms) * 1000) / TASKS).toFixed(1)} plan ${((Number(r.plan_ms) * 1000) / TASKS).toFixed(1)} µs/task (wall), ${(Number(r.blocks) / TASKS).toFixed(1)} blocks/task  ${String(r.q)}`);
    }
    const [wal] = await sql`SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal`;
    console.log(`   WAL per task: ${(Number(wal?.wal_records) / TASKS).toFixed(1)} records, ${(Number(wal?.wal_fpi) / TASKS).toFixed(2)} full-page images, ${Math.round(Number(wal?.wal_bytes) / TASKS)} bytes`);
    await sql.end();
    await core.close();
  }
}
for (const w of workers) w.child.send({ type: 'exit' } satisfies DrainWorkerRequest);
await pg.stop();
process.exit(0);
