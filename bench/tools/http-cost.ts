/**
 * `npx tsx bench/tools/http-cost.ts [N] [ROUNDS] [FILTER]`: CPU per request of scenario (e)'s server, a
 * measure the machine's load hardly moves (rates on this shared machine swing 3×). Two server
 * processes as in (e) (bench/server-child.ts, auth off and auth on with an API key), 10 keep-alive
 * fetch clients; for `enqueueTask` (off, on) and `{ __typename }`, the server's CPU (utime + stime
 * from /proc/PID/stat) and the client process's CPU per request, and the rate. Rounds alternate
 * the lines; medians of the rounds. N requests per line and round (default 2,000), ROUNDS
 * (default 3), FILTER (only the lines whose label contains it). With BASE_ROOT set, the same servers from that checkout too (A/B in one run). With PROFILE_DIR set, the servers write V8 CPU profiles under it (`off/`, `on/`).
 */
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { AUTH_ON_ENV, createBenchKey } from '../lib/auth.js';
import { ENQUEUE, gql } from '../lib/graphql-client.js';
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
const PROFILE_DIR = process.env.PROFILE_DIR;
/** Another checkout (e.g. a `git worktree` of the commit before a change): its servers run the same lines, interleaved, for an A/B. */
const BASE_ROOT = process.env.BASE_ROOT;
const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** utime + stime of a process, in µs. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

async function hammer(total: number, request: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(range(0, CLIENTS).map(async () => {
    while (next < total) await request(next++);
  }));
  return (performance.now() - t0) / 1000;
}

const pg = await startBenchPostgres();
const servers: ServerProcess[] = [];
try {
  const url = await createDatabase(pg.adminUrl, 'http_cost');
  await migrateDatabase(url);
  const key = await createBenchKey(url, ['tasks:enqueue']);
  const lines: [string, ServerProcess, (i: number) => Promise<unknown>][] = [];
  for (const [root, suffix] of [[process.cwd(), ''], ...(BASE_ROOT ? [[BASE_ROOT, ' (base)']] : [])] as [string, string][]) {
    const [off, on] = (await Promise.all([
      startServerProcess(root, { databaseUrl: url, server: true, worker: false }, PROFILE_DIR && `${PROFILE_DIR}/off${suffix ? '-base' : ''}`),
      startServerProcess(root, { databaseUrl: url, server: true, worker: false, env: { ...AUTH_ON_ENV } }, PROFILE_DIR && `${PROFILE_DIR}/on${suffix ? '-base' : ''}`),
    ])) as [ServerProcess, ServerProcess];
    servers.push(off, on);
    lines.push(
      [`enqueueTask, auth off${suffix}`, off, (i) => gql(off.url, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } })],
      [`enqueueTask, auth on (API key)${suffix}`, on, (i) => gql(on.url, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } }, key)],
      [`{__typename}, auth off${suffix}`, off, () => gql(off.url, '{ __typename }')],
    );
  }
  lines.splice(0, lines.length, ...lines.filter(([label]) => label.includes(FILTER)));
  for (const [, , call] of lines) await hammer(500, call);
  const results = new Map<string, { server: number[]; client: number[]; rate: number[]; commits: number[] }>();
  const stats = postgres(url, { max: 1 });
  // Transactions committed in the database: per enqueueTask, how well enqueues share commits.
  const commits = async (): Promise<number> => Number((await stats`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`)[0]?.xact_commit);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, server, call] of round % 2 === 0 ? lines : [...lines].reverse()) {
      await stats`SELECT pg_stat_clear_snapshot()`;
      const x0 = await commits();
      const s0 = cpuOf(server.pid);
      const c0 = process.cpuUsage();
      const seconds = await hammer(N, call);
      const c1 = process.cpuUsage(c0);
      await stats`SELECT pg_stat_force_next_flush()`;
      await new Promise((resolve) => setTimeout(resolve, 50));
      await stats`SELECT pg_stat_clear_snapshot()`;
      const x1 = await commits();
      const r = results.get(label) ?? { server: [], client: [], rate: [], commits: [] };
      r.commits.push((x1 - x0) / N);
      r.server.push((cpuOf(server.pid) - s0) / N);
      r.client.push((c1.user + c1.system) / N);
      r.rate.push(N / seconds);
      results.set(label, r);
    }
  }
  await stats.end();
  console.log(`${'line'.padEnd(40)} server µs/req  client µs/req  req/s  commits/req  (medians of ${ROUNDS} rounds of ${N})`);
  for (const [label, r] of results) {
    const f = (v: number[]): string => summarize(v).median.toFixed(0);
    console.log(`${label.padEnd(40)} ${f(r.server).padStart(13)}  ${f(r.client).padStart(13)}  ${f(r.rate).padStart(5)}  ${summarize(r.commits).median.toFixed(2).padStart(11)}`);
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await pg.stop();
}
