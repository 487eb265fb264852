import { ENQUEUE, gql } from '../lib/graphql-client.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { startServerProcess } from '../lib/server-process.js';
import { range } from '../lib/wait.js';
import { NOOP_TASK } from '../systems/taskwire.js';

/** `clients` keep-alive loops share `total` requests; returns requests per second. */
async function hammer(clients: number, total: number, request: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(range(0, clients).map(async () => {
    while (next < total) await request(next++);
  }));
  return total / ((performance.now() - t0) / 1000);
}

/**
 * (e) GraphQL enqueue over HTTP: the server runs in its own process (no worker);
 * `httpClients` keep-alive clients send `enqueueTask`, then the same number of
 * `{__typename}` queries as the ceiling of the HTTP + GraphQL stack. Each is warmed up
 * first; the order alternates between repetitions.
 */
export async function graphqlEnqueueScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const { httpRequests: total, httpClients: clients } = job.sizes;
  for (let rep = 1; rep <= job.repeat; rep++) {
    const db = await freshDatabase(job.adminUrl, job.template);
    const server = await startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: false }, job.profileDir);
    try {
      const enqueue = (i: number): Promise<unknown> => gql(server.url, ENQUEUE, { input: { name: NOOP_TASK, args: [i] } });
      const typename = (): Promise<unknown> => gql(server.url, '{ __typename }');
      await hammer(clients, clients * 20, enqueue);
      await hammer(clients, clients * 20, typename);
      const order = rep % 2 === 1 ? ['enqueue', 'typename'] : ['typename', 'enqueue'];
      for (const which of order) {
        if (which === 'enqueue') rec.add(M.gqlEnqueueRate, 'req/s', await hammer(clients, total, enqueue));
        else rec.add(M.gqlCeilingRate, 'req/s', await hammer(clients, total, typename));
      }
    } finally {
      await server.stop();
      await db.drop();
    }
  }
}
