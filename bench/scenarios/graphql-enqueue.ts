import { AUTH_ON_ENV, createBenchKey } from '../lib/auth.js';
import { ENQUEUE, gql } from '../lib/graphql-client.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { range } from '../lib/wait.js';
import { NOOP_TASK } from '../systems/taskwire.js';

/** `clients` keep-alive loops share `total` requests; returns the seconds they took. */
async function hammer(clients: number, total: number, request: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(range(0, clients).map(async () => {
    while (next < total) await request(next++);
  }));
  return (performance.now() - t0) / 1000;
}

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
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await db.drop();
    }
  }
}
