/**
 * `npx tsx bench/tools/http-cost.ts [N] [ROUNDS] [FILTER]`: CPU per request of scenario (e)'s server, a
 * measure the machine's load hardly moves (rates on this shared machine swing 3×). Two server
 * processes as in (e) (bench/server-child.ts, auth off and auth on with an API key), 10 keep-alive
 * fetch clients; for `enqueueTask` (off, on) and `{ __typename }`, the server's CPU (utime + stime
 * from /proc/PID/stat), the client process's and the PostgreSQL cluster's CPU per request, the rate
 * and the commits per request; of the server's CPU, the kernel's share, its main thread's (the rest is
 * V8's compiler and GC threads) and the main thread's context switches. Rounds alternate
 * the lines; medians of the rounds. N requests per line and round (default 2,000), ROUNDS
 * (default 3), FILTER (only the lines whose label contains it). With BASE_ROOT set, the same servers from that checkout too (A/B in one run). With PROFILE_DIR set, the servers write V8 CPU profiles under it (`off/`, `on/`).
 * With CLIENT=lean, the 10 clients are the harness's lean HTTP client (bench/lib/lean-http.ts, one connection each) instead of fetch.
 * With BATCH=K (K > 1), one more line sends `enqueueTasks` of K tasks a request (issue 17's "batch where GraphQL
 * allows"); its figures are per task (CPU ÷ K, tasks/s), beside the per-request lines.
 */
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { AUTH_ON_ENV, createBenchKey } from '../lib/auth.js';
import { clusterCpuUs, processCpuUs, procStat } from '../lib/cpu.js';
import { ENQUEUE, gql, hammer } from '../lib/graphql-client.js';
import { leanHttpClient, type LeanHttpClient } from '../lib/lean-http.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { summarize } from '../lib/stats.js';
import { range } from '../lib/wait.js';
import { NOOP_TASK } from '../systems/taskwire.js';

const N = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 3);
/** Only the lines whose label contains this (default: all). */
const FILTER = process.argv[4] ?? '';
const CLIENTS = 10;
/**
 * Requests per line before the rounds (default 500). A fresh server compiles its hot code (V8's
 * TurboFan) over its first ~10,000 `enqueueTask`s, which costs as much CPU as the requests
 * themselves at first (server µs per request by 2,000: ~800, 400, 340, 290, then ~245 from
 * ~14,000 on; `{ __typename }` settles by ~4,000): WARMUP=15000 measures the steady state,
 * the default what a short run sees, as scenario (e) does (bench/README.md).
 */
const WARMUP = Number(process.env.WARMUP ?? 500);
const PROFILE_DIR = process.env.PROFILE_DIR;
/** Another checkout (e.g. a `git worktree` of the commit before a change): its servers run the same lines, interleaved, for an A/B. */
const BASE_ROOT = process.env.BASE_ROOT;
const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux
/** Tasks per `enqueueTasks` request of the batch line (unset or 1: no such line). */
const BATCH = Number(process.env.BATCH ?? 1);
const ENQUEUE_BATCH = 'mutation Enqueue($inputs: [EnqueueTaskInput!]!) { enqueueTasks(inputs: $inputs) { tasks { id status version } } }';

/** stime of a process, in µs: the kernel's share (syscalls, socket writes; on loopback TCP a write also runs the receiver's side). */
function sysOf(pid: number): number {
  return Number(procStat(pid)[12]) * TICK_US;
}

/** CPU of a process's main thread, in µs (the rest: V8's GC and compiler threads, libuv's pool). */
function mainThreadCpu(pid: number): number {
  return processCpuUs(`${pid}/task/${pid}`);
}

/** Context switches of a process's main thread (voluntary + involuntary): roughly its event loop's wake-ups. */
function switchesOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return [...status.matchAll(/ctxt_switches:\s+(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

const pg = await startBenchPostgres();
const servers: ServerProcess[] = [];
try {
  const url = await createDatabase(pg.adminUrl, 'http_cost');
  await migrateDatabase(url);
  const key = await createBenchKey(url, ['tasks:enqueue']);
  /** Label, server, one request, and the tasks it enqueues (figures are divided by them: per task). */
  const lines: [string, ServerProcess, (i: number, client: number) => Promise<unknown>, number][] = [];
  // CLIENT=lean: the harness's lean HTTP client (bench/lib/lean-http.ts), one connection per client loop; else fetch.
  const poster = (target: string): ((client: number, query: string, variables?: Record<string, unknown>, authorization?: string) => Promise<unknown>) => {
    if (process.env.CLIENT !== 'lean') return (_client, query, variables, authorization) => gql(target, query, variables, authorization);
    const clients = range(0, CLIENTS).map(() => leanHttpClient(target));
    return (client, query, variables, authorization) => (clients[client] as LeanHttpClient).request(query, variables, authorization);
  };
  for (const [root, suffix] of [[process.cwd(), ''], ...(BASE_ROOT ? [[BASE_ROOT, ' (base)']] : [])] as [string, string][]) {
    const [off, on] = (await Promise.all([
      startServerProcess(root, { databaseUrl: url, server: true, worker: false }, PROFILE_DIR && `${PROFILE_DIR}/off${suffix ? '-base' : ''}`),
      startServerProcess(root, { databaseUrl: url, server: true, worker: false, env: { ...AUTH_ON_ENV } }, PROFILE_DIR && `${PROFILE_DIR}/on${suffix ? '-base' : ''}`),
    ])) as [ServerProcess, ServerProcess];
    servers.push(off, on);
    // The ceiling line runs on the enqueue line's connections: lines take turns, never overlap.
    const [postOff, postOn] = [poster(off.url), poster(on.url)];
    lines.push(
      [`enqueueTask, auth off${suffix}`, off, (i, c) => postOff(c, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } }), 1],
      [`enqueueTask, auth on (API key)${suffix}`, on, (i, c) => postOn(c, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } }, key), 1],
      [`{__typename}, auth off${suffix}`, off, (_i, c) => postOff(c, '{ __typename }'), 1],
    );
    if (BATCH > 1) {
      const inputs = (i: number): unknown[] => range(0, BATCH).map((j) => ({ name: NOOP_TASK, args: [i * BATCH + j] }));
      lines.push([`enqueueTasks ×${BATCH}, per task${suffix}`, off, (i, c) => postOff(c, ENQUEUE_BATCH, { inputs: inputs(i) }), BATCH]);
    }
  }
  lines.splice(0, lines.length, ...lines.filter(([label]) => label.includes(FILTER)));
  for (const [, , call, tasks] of lines) await hammer(CLIENTS, Math.ceil(WARMUP / tasks), call);
  const results = new Map<string, { server: number[]; sys: number[]; main: number[]; switches: number[]; client: number[]; pg: number[]; rate: number[]; commits: number[] }>();
  const stats = postgres(url, { max: 1 });
  const [{ data_directory: dataDir }] = (await stats`SHOW data_directory`) as unknown as [{ data_directory: string }];
  const postmaster = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
  // Transactions committed in the database: per enqueueTask, how well enqueues share commits.
  const commits = async (): Promise<number> => Number((await stats`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`)[0]?.xact_commit);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, server, call, tasks] of round % 2 === 0 ? lines : [...lines].reverse()) {
      // A batch line sends as many tasks as the others' requests, in N ÷ tasks requests.
      const requests = Math.max(1, Math.round(N / tasks));
      const per = requests * tasks;
      await stats`SELECT pg_stat_clear_snapshot()`;
      const x0 = await commits();
      const s0 = processCpuUs(server.pid);
      const k0 = sysOf(server.pid);
      const m0 = mainThreadCpu(server.pid);
      const w0 = switchesOf(server.pid);
      const p0 = clusterCpuUs(postmaster);
      const c0 = process.cpuUsage();
      const seconds = await hammer(CLIENTS, requests, call);
      const c1 = process.cpuUsage(c0);
      const p1 = clusterCpuUs(postmaster);
      const s1 = processCpuUs(server.pid);
      const k1 = sysOf(server.pid);
      const m1 = mainThreadCpu(server.pid);
      const w1 = switchesOf(server.pid);
      await stats`SELECT pg_stat_force_next_flush()`;
      await new Promise((resolve) => setTimeout(resolve, 50));
      await stats`SELECT pg_stat_clear_snapshot()`;
      const x1 = await commits();
      const r = results.get(label) ?? { server: [], sys: [], main: [], switches: [], client: [], pg: [], rate: [], commits: [] };
      r.pg.push((p1 - p0) / per);
      r.commits.push((x1 - x0) / per);
      r.server.push((s1 - s0) / per);
      r.sys.push((k1 - k0) / per);
      r.main.push((m1 - m0) / per);
      r.switches.push((w1 - w0) / per);
      r.client.push((c1.user + c1.system) / per);
      r.rate.push(per / seconds);
      results.set(label, r);
    }
  }
  await stats.end();
  console.log(`${'line'.padEnd(40)} server µs/req  (kernel  main thread  switches)  client µs/req  postgres µs/req  req/s  commits/req  (medians of ${ROUNDS} rounds of ${N}, after ${WARMUP} per line)`);
  for (const [label, r] of results) {
    const f = (v: number[]): string => summarize(v).median.toFixed(0);
    console.log(`${label.padEnd(40)} ${f(r.server).padStart(13)}  (${f(r.sys).padStart(6)}  ${f(r.main).padStart(11)}  ${summarize(r.switches).median.toFixed(2).padStart(8)})  ${f(r.client).padStart(13)}  ${f(r.pg).padStart(15)}  ${f(r.rate).padStart(5)}  ${summarize(r.commits).median.toFixed(2).padStart(11)}`);
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await pg.stop();
}
