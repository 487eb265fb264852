import { AUTH_ON_ENV, createBenchKey } from '../lib/auth.js';
import { ENQUEUE, gql, hammer } from '../lib/graphql-client.js';
import { leanHttpClient, type LeanHttpClient } from '../lib/lean-http.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { range } from '../lib/wait.js';
import { NOOP_TASK } from '../systems/taskwire.js';

/**
 * Slices per side when auth on and off are compared: short runs in the order off, on, on, off,
 * off, on, … so drift, background load and the servers' warming up fall on both sides alike.
 */
const SLICES = 4;

/**
 * (e) GraphQL enqueue over HTTP: the server runs in its own process (no worker);
 * `httpClients` keep-alive clients send `enqueueTask`, and the same number of `{__typename}`
 * queries as the ceiling of the HTTP + GraphQL stack (before or after, alternating per
 * repetition). Beside it, in the same database, a second server with AUTH_MODE=on takes the same
 * `enqueueTask`s with an API key (`tasks:enqueue`) in `Authorization`; the two enqueue runs are
 * interleaved in slices (SLICES), each side's rate is its requests over its slices' time. Both
 * servers start together and get the same warm-up: `httpRequests` of each kind before the clock.
 */
export async function graphqlEnqueueScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const { httpRequests: total, httpClients: clients } = job.sizes;
  for (let rep = 1; rep <= job.repeat; rep++) {
    const db = await freshDatabase(job.adminUrl, job.template);
    const servers: ServerProcess[] = [];
    try {
      const authorization = await createBenchKey(db.url, ['tasks:enqueue']);
      const started = await Promise.all([
        startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: false }, job.profileDir),
        startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: false, env: { ...AUTH_ON_ENV } }, job.profileDir && `${job.profileDir}-auth`),
      ]);
      servers.push(...started);
      const [off, on] = started as [ServerProcess, ServerProcess];
      const enqueueOff = (i: number): Promise<unknown> => gql(off.url, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } });
      const enqueueOn = (i: number): Promise<unknown> => gql(on.url, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } }, authorization);
      const typename = (): Promise<unknown> => gql(off.url, '{ __typename }');
      // As many requests as are timed, on each endpoint: a fresh Node process spends its first
      // ~10,000 enqueueTasks compiling (V8; server CPU per request 1,015 -> ~300 us over them,
      // {__typename} settles by ~4,000; bench/tools/http-cost.ts WARMUP), and a server takes
      // requests for days. 200 each, as before, timed mostly the compiler (bench/README.md (e)).
      await hammer(clients, total, enqueueOff);
      await hammer(clients, total, enqueueOn);
      await hammer(clients, total, typename);
      const ceiling = async (): Promise<void> => rec.add(M.gqlCeilingRate, 'req/s', total / (await hammer(clients, total, typename)));
      if (rep % 2 === 0) await ceiling();
      const seconds = { off: 0, on: 0 };
      const slice = Math.ceil(total / SLICES);
      for (let s = 0; s < SLICES; s++) {
        const sides = s % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
        for (const side of sides) seconds[side] += await hammer(clients, slice, side === 'off' ? enqueueOff : enqueueOn);
      }
      rec.add(M.gqlEnqueueRate, 'req/s', (slice * SLICES) / seconds.off);
      rec.add(M.gqlEnqueueRateAuth, 'req/s', (slice * SLICES) / seconds.on);
      if (rep % 2 === 1) await ceiling();
      // The same two kinds through the lean client (bench/lib/lean-http.ts), one connection per
      // loop: node's fetch costs the harness ~300–400 µs of CPU per request on the cores the server
      // uses, about as much as the server's answer to `{__typename}`, so the lines above measure
      // both. Reported beside them, not instead (issue 17's targets were set with fetch).
      const lean = range(0, clients).map(() => leanHttpClient(off.url));
      try {
        const leanEnqueue = (i: number, c: number): Promise<unknown> => (lean[c] as LeanHttpClient).request(ENQUEUE, { input: { name: NOOP_TASK, args: [i] } });
        const leanTypename = (_i: number, c: number): Promise<unknown> => (lean[c] as LeanHttpClient).request('{ __typename }');
        const leanCeiling = async (): Promise<void> => rec.add(M.gqlCeilingRateLean, 'req/s', total / (await hammer(clients, total, leanTypename)));
        if (rep % 2 === 0) await leanCeiling();
        rec.add(M.gqlEnqueueRateLean, 'req/s', total / (await hammer(clients, total, leanEnqueue)));
        if (rep % 2 === 1) await leanCeiling();
      } finally {
        for (const c of lean) c.close();
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await db.drop();
    }
  }
}
