/**
 * `npx tsx bench/tools/auth-cost.ts [N] [FILTER]`: where authentication's cost goes, on an
 * embedded PostgreSQL of its own, in one process without sockets (`yoga.fetch`). The same
 * requests with auth off, with auth on and an HS256 JWT (no database read), and with auth on
 * and an API key (one primary-key read), for `enqueueTask` and for `{ __typename }`; then the
 * parts alone: `authenticate`, a read token's signature (enqueueTask returns one), and a
 * `SELECT 1` round trip. One at a time and 10 in flight; rounds alternate so drift falls on
 * every line alike. Prints medians of the rounds' means, in ms per call. FILTER keeps the lines
 * whose label contains it (e.g. to run one under --cpu-prof).
 */
import { SignJWT } from 'jose';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import { loadConfig } from '../../src/config.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { silentLogger } from '../../src/logger.js';
import { buildApp, type App } from '../../src/server/app.js';
import { AUTH_ON_ENV, BENCH_TENANT, createBenchKey } from '../lib/auth.js';
import { ENQUEUE } from '../lib/graphql-client.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { summarize } from '../lib/stats.js';
import { range } from '../lib/wait.js';
import { createTaskwireSystem, NOOP_TASK, type TaskwireSystem } from '../systems/taskwire.js';

const N = Number(process.argv[2] ?? 1000);
const ONLY = process.argv[3] ?? '';
const ROUNDS = 5;
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret';

/** Mean ms per call of `call` made `n` times, `inFlight` at once. */
async function time(n: number, inFlight: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(range(0, inFlight).map(async () => {
    while (next < n) await call(next++);
  }));
  return (performance.now() - t0) / n;
}

function request(app: App, query: string, authorization: string | undefined): (i: number) => Promise<unknown> {
  return async (i) => {
    const response = await app.yoga.fetch('http://127.0.0.1/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ query, variables: query === ENQUEUE ? { input: { name: NOOP_TASK, args: [i] } } : {} }),
    });
    const body = (await response.json()) as { errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
  };
}

const pg = await startBenchPostgres();
const systems: TaskwireSystem[] = [];
const apps: App[] = [];
try {
  const url = await createDatabase(pg.adminUrl, 'auth_cost');
  await migrateDatabase(url);
  const key = await createBenchKey(url, ['tasks:enqueue']);
  const jwt = `Bearer ${await new SignJWT({ tenant: BENCH_TENANT, scope: 'tasks:enqueue' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('bench')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET))}`;
  const onEnv = { ...AUTH_ON_ENV, JWT_SECRET };
  const off = await createTaskwireSystem(url);
  const on = await createTaskwireSystem(url, onEnv);
  systems.push(off, on);
  const appOff = buildApp(off.deps);
  const appOn = buildApp(on.deps);
  apps.push(appOff, appOn);
  const authenticator = createAuthenticator({ sql: on.deps.db.sql, config: loadConfig(onEnv), log: silentLogger });
  const issuer = authenticator.readTokens;
  if (!issuer) throw new Error('auth is off');
  const principal = await authenticator.authenticate(key);
  const all: Record<string, (i: number) => Promise<unknown>> = {};
  for (const [label, query] of [['enqueueTask', ENQUEUE], ['{__typename}', '{ __typename }']] as const) {
    all[`${label}, auth off`] = request(appOff, query, undefined);
    all[`${label}, auth on, JWT`] = request(appOn, query, jwt);
    all[`${label}, auth on, API key`] = request(appOn, query, key);
  }
  all['authenticate (API key)'] = () => authenticator.authenticate(key);
  all['authenticate (JWT)'] = () => authenticator.authenticate(jwt);
  all['read token issue'] = (i) => issuer.issue(principal, [`0193c1a2-0000-7000-8000-${String(i).padStart(12, '0')}`]);
  all['SELECT 1'] = () => on.deps.db.sql`SELECT 1`;
  const lines = Object.entries(all).filter(([label]) => label.includes(ONLY));
  for (const [, call] of lines) await time(100, 10, call);
  const results = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const inFlight of [1, 10]) {
      for (const [label, call] of lines) {
        const k = `${label}, ${inFlight} in flight`;
        results.set(k, [...(results.get(k) ?? []), await time(N, inFlight, call)]);
      }
    }
  }
  for (const [k, values] of [...results].sort(([a], [b]) => Number(a.includes(', 10 in')) - Number(b.includes(', 10 in')))) {
    const s = summarize(values);
    console.log(`${k.padEnd(46)} ${s.median.toFixed(3)} ms  (min ${s.min.toFixed(3)}, max ${s.max.toFixed(3)})`);
  }
} finally {
  for (const app of apps) await app.stop().catch(() => undefined);
  for (const system of systems) await system.close();
  await pg.stop();
}
