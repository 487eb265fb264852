/**
 * `npx tsx bench/tools/http-cost.ts [N] [ROUNDS]`: CPU per request of scenario (e)'s server, a
 * measure the machine's load hardly moves (rates on this shared machine swing 3×). Two server
 * processes as in (e) (bench/server-child.ts, auth off and auth on with an API key), 10 keep-alive
 * fetch clients; for `enqueueTask` (off, on) and `{ __typename }`, the server's CPU (utime + stime
 * from /proc/PID/stat) and the client process's CPU per request, and the rate. Rounds alternate
 * the lines; medians of the rounds. N requests per line and round (default 2,000), ROUNDS
 * (default 3). With PROFILE_DIR set, the servers write V8 CPU profiles under it (`off/`, `on/`).
 */
import { readFileSync } from 'node:fs';
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
const CLIENTS = 10;
const PROFILE_DIR = process.env.PROFILE_DIR;
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
  const [off, on] = (await Promise.all([
    startServerProcess(process.cwd(), { databaseUrl: url, server: true, worker: false }, PROFILE_DIR && `${PROFILE_DIR}/off`),
    startServerProcess(process.cwd(), { databaseUrl: url, server: true, worker: false, env: { ...AUTH_ON_ENV } }, PROFILE_DIR && `${PROFILE_DIR}/on`),
  ])) as [ServerProcess, ServerProcess];
  servers.push(off, on);
  const lines: [string, ServerProcess, (i: number) => Promise<unknown>][] = [
    ['enqueueTask, auth off', off, (i) => gql(off.url, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } })],
    ['enqueueTask, auth on (API key)', on, (i) => gql(on.url, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } }, key)],
    ['{__typename}, auth off', off, () => gql(off.url, '{ __typename }')],
  ];
  for (const [, , call] of lines) await hammer(500, call);
  const results = new Map<string, { server: number[]; client: number[]; rate: number[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, server, call] of round % 2 === 0 ? lines : [...lines].reverse()) {
      const s0 = cpuOf(server.pid);
      const c0 = process.cpuUsage();
      const seconds = await hammer(N, call);
      const c1 = process.cpuUsage(c0);
      const r = results.get(label) ?? { server: [], client: [], rate: [] };
      r.server.push((cpuOf(server.pid) - s0) / N);
      r.client.push((c1.user + c1.system) / N);
      r.rate.push(N / seconds);
      results.set(label, r);
    }
  }
  console.log(`${'line'.padEnd(32)} server µs/req  client µs/req  req/s   (medians of ${ROUNDS} rounds of ${N})`);
  for (const [label, r] of results) {
    const f = (v: number[]): string => summarize(v).median.toFixed(0);
    console.log(`${label.padEnd(32)} ${f(r.server).padStart(13)}  ${f(r.client).padStart(13)}  ${f(r.rate).padStart(5)}`);
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await pg.stop();
}
