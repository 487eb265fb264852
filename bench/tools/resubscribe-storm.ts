/**
 * `npx tsx bench/tools/resubscribe-storm.ts [rounds=3] [storms=3]`: what (i)'s failover asks of its
 * standby, apart from the drain beside it (issue 11). Per round, a fresh server process (GraphQL, no
 * worker) takes `storms` storms one after another; a storm is what reaches a standby after a kill:
 * 50 connections of the harness's lean graphql-ws client each starting 20 `taskEvents(id,
 * afterVersion: 0)` subscriptions (1,000 tasks, each answered by its ENQUEUED replay) and 10
 * connections each starting a `taskEventFeed`; timed from the first connection to the last
 * `taskEvents` replay received, then the connections are closed. The first storm meets code that
 * has never run (what a restarted process meets), the later ones the same code warm. The tasks are
 * enqueued once, due in a century, by a server process that then stops. With WARM_UP=unknown, each
 * server first takes a storm on 1,000 ids of no task (each subscription answered by its error): what a
 * warm-up of the same path without a real task would do for the first real storm. With PROFILE_DIR
 * set, each server writes a V8 CPU profile there (at its stop).
 */
import { migrateDatabase } from '../../src/db/migrate.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { gql } from '../lib/graphql-client.js';
import { firstResult, leanWsClient, type SubscriptionClient } from '../lib/lean-ws.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { startServerProcess } from '../lib/server-process.js';
import { summarize } from '../lib/stats.js';
import { range } from '../lib/wait.js';
import { NOOP_TASK } from '../systems/taskwire.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const STORMS = Number(process.argv[3] ?? 3);
const CONNECTIONS = 50;
const PER_CONNECTION = 20;
const FEEDS = 10;
/** Aliases per enqueue request: under the server's alias limit (30). */
const PER_REQUEST = 25;
const TASK_EVENTS = 'subscription($id: ID!) { taskEvents(id: $id, afterVersion: 0) { version type } }';
const FEED = 'subscription { taskEventFeed { cursor version } }';

const WARM_UP = process.env.WARM_UP;
if (WARM_UP !== undefined && WARM_UP !== 'unknown') throw new Error(`WARM_UP: only 'unknown' is known, got '${WARM_UP}'`);
/** The first real storm's label: on cold code, or after the warm-up. */
const FIRST = WARM_UP ? 'first' : 'cold';

/** One storm: ms until every taskEvents subscription had its replay (`unknown`: its error). */
async function storm(url: string, ids: readonly string[], unknown = false): Promise<number> {
  const started = performance.now();
  const clients: SubscriptionClient[] = [];
  const replays: Promise<void>[] = [];
  for (let c = 0; c < CONNECTIONS; c++) {
    const client = leanWsClient(url);
    clients.push(client);
    for (let k = 0; k < PER_CONNECTION; k++) replays.push(firstResult(client, TASK_EVENTS, { id: ids[c * PER_CONNECTION + k] }, unknown));
  }
  for (let f = 0; f < FEEDS; f++) {
    const client = leanWsClient(url);
    clients.push(client);
    // A feed from the end has nothing to say until something happens: started, not waited for.
    client.subscribe({ query: FEED }, { next: () => undefined, error: () => undefined, complete: () => undefined });
  }
  try {
    await Promise.all(replays);
    return performance.now() - started;
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
  }
}

const pg = await startBenchPostgres();
try {
  const url = await createDatabase(pg.adminUrl, 'resubscribe_storm');
  await migrateDatabase(url);
  const ids: string[] = [];
  // A server process outlives this one unless stopped (its IPC channel keeps it): stopped whatever happens.
  const setup = await startServerProcess(process.cwd(), { databaseUrl: url, server: true, worker: false });
  try {
    for (let from = 0; from < CONNECTIONS * PER_CONNECTION; from += PER_REQUEST) {
      const aliases = range(0, PER_REQUEST).map((i) => `t${i}: enqueueTask(input: { name: "${NOOP_TASK}", runAfter: "2126-01-01T00:00:00Z" }) { task { id } }`);
      const data = await gql<Record<string, { task: { id: string } }>>(setup.url, `mutation { ${aliases.join(' ')} }`);
      for (const payload of Object.values(data)) ids.push(payload.task.id);
    }
  } finally {
    await setup.stop();
  }
  const byStorm: number[][] = range(0, STORMS).map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    const server = await startServerProcess(process.cwd(), { databaseUrl: url, server: true, worker: false }, process.env.PROFILE_DIR);
    let warmUp = '';
    const times: number[] = [];
    try {
      if (WARM_UP) warmUp = `after a storm on unknown ids (${(await storm(server.url, ids.map(() => uuidv7()), true)).toFixed(0)} ms): `;
      for (let s = 0; s < STORMS; s++) times.push(await storm(server.url, ids));
    } finally {
      await server.stop();
    }
    times.forEach((ms, s) => byStorm[s]?.push(ms));
    console.log(`round ${round + 1}: ${warmUp}${times.map((ms, s) => `${s === 0 ? FIRST : `storm ${s + 1}`} ${ms.toFixed(0)} ms`).join(', ')}`);
  }
  console.log(
    `${WARM_UP ? 'after a storm on unknown ids, ' : ''}${CONNECTIONS * PER_CONNECTION} taskEvents + ${FEEDS} feeds on ${CONNECTIONS + FEEDS} connections, ms to the last replay, median of ${ROUNDS}: ` +
      byStorm.map((xs, s) => `${s === 0 ? FIRST : `storm ${s + 1}`} ${summarize(xs).median.toFixed(0)}`).join(', '),
  );
} finally {
  await pg.stop();
}
