import { encodeCursor } from '../../src/queue/list.js';
import { M } from '../lib/metrics.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { gql } from '../lib/graphql-client.js';
import { freshDatabase } from '../lib/pg.js';
import { startServerProcess } from '../lib/server-process.js';
import { percentiles } from '../lib/stats.js';
import { createTaskwireSystem, NOOP_TASK, type TaskwireSystem } from '../systems/taskwire.js';
import { drainOnce, measureLatency, recordLatency } from './worker.js';

/**
 * Fills `tasks` with `rows` finished tasks in one INSERT … SELECT generate_series: time-
 * ordered uuid v7 ids over the last two days (PostgreSQL 18's uuidv7(shift)), SUCCEEDED
 * with one attempt and a retention far in the future. Then VACUUM ANALYZE and a
 * CHECKPOINT, so the measurements see a settled table rather than autovacuum catching up.
 */
export async function insertHistory(system: TaskwireSystem, rows: number): Promise<number> {
  const sql = system.deps.db.sql;
  const t0 = performance.now();
  await sql`
    INSERT INTO tasks (id, name, queue, priority, args, kwargs, status, version, attempts, max_attempts,
                       run_after, enqueued_at, started_at, finished_at, last_attempted_at, worker_ids, expires_at)
    SELECT uuidv7(x.t - now()), ${NOOP_TASK}, 'default', 0, jsonb_build_array(g), '{}'::jsonb, 'SUCCEEDED', 3, 1, 1,
           x.t, x.t, x.t + interval '1 ms', x.t + interval '2 ms', x.t + interval '1 ms', ARRAY['bench-history'],
           now() + interval '30 days'
    FROM generate_series(1, ${rows}::int) AS g,
         LATERAL (SELECT now() - interval '2 days' + g * (interval '1 day' / ${rows}::int) AS t) AS x`;
  const insertMs = performance.now() - t0;
  await sql`VACUUM (ANALYZE) tasks`;
  await sql`CHECKPOINT`;
  return insertMs;
}

/** Times `queries` calls of listTasks(first: 50) after `cursor` (undefined: the first page). */
async function timePages(system: TaskwireSystem, cursor: string | undefined, queries: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < queries + 10; i++) {
    const t0 = performance.now();
    const page = await system.deps.queue.listTasks({ first: 50, ...(cursor ? { after: cursor } : {}) });
    const elapsed = performance.now() - t0;
    if (page.tasks.length !== 50) throw new Error(`a page held ${page.tasks.length} tasks, not 50`);
    if (i >= 10) ms.push(elapsed); // the first ten warm the plan cache
  }
  return ms;
}

const PAGE = /* GraphQL */ `
  query Page($after: String) {
    tasks(first: 50, after: $after) {
      edges { cursor node { id name status attempts enqueuedAt startedAt finishedAt returnValue } }
      pageInfo { hasNextPage hasPreviousPage endCursor }
    }
  }`;

/** Times `queries` `tasks(first: 50)` requests over HTTP to a server in its own process. */
async function timeGraphqlPages(url: string, cursor: string | undefined, queries: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < queries + 10; i++) {
    const t0 = performance.now();
    const data = await gql<{ tasks: { edges: unknown[] } }>(url, PAGE, cursor ? { after: cursor } : {});
    const elapsed = performance.now() - t0;
    if (data.tasks.edges.length !== 50) throw new Error(`a page held ${data.tasks.edges.length} tasks, not 50`);
    if (i >= 10) ms.push(elapsed);
  }
  return ms;
}

/**
 * (h) history at scale, taskwire only: `historyRows` finished tasks in the table, then per
 * repetition: a page of 50 at the first page and `historyDepth` rows deep (keyset), through
 * the core (`listTasks`) and as `tasks(first: 50)` over HTTP (server in its own process);
 * claim latency; and the drain rate with that history present.
 */
export async function historyScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const { historyRows: rows, historyDepth: depth } = job.sizes;
  const db = await freshDatabase(job.adminUrl, job.template);
  try {
    const setup = await createTaskwireSystem(db.url);
    try {
      const insertMs = await insertHistory(setup, rows);
      rec.notes.push(`history: the deep page starts ${depth} rows in (keyset cursor)`);
      rec.notes.push(`history: inserted ${rows} finished tasks in ${Math.round(insertMs)} ms (then VACUUM ANALYZE, CHECKPOINT)`);
      const [size] = await setup.deps.db.sql`
        SELECT pg_table_size('tasks')::float8 AS tbl, pg_indexes_size('tasks')::float8 AS idx, count(*)::float8 AS n FROM tasks`;
      const n = Number(size?.n);
      rec.add('table size per task', 'bytes', Number(size?.tbl) / n);
      rec.add('index size per task', 'bytes', Number(size?.idx) / n);
    } finally {
      await setup.close();
    }
    for (let rep = 1; rep <= job.repeat; rep++) {
      const system = await createTaskwireSystem(db.url);
      try {
        const [deep] = await system.deps.db.sql`SELECT id FROM tasks ORDER BY id DESC OFFSET ${depth - 1} LIMIT 1`;
        const cursor = encodeCursor(String(deep?.id));
        const first = percentiles(await timePages(system, undefined, job.sizes.pageQueries));
        const deepPage = percentiles(await timePages(system, cursor, job.sizes.pageQueries));
        rec.add(M.corePageFirstP50, 'ms', first.p50);
        rec.add(M.corePageFirstP99, 'ms', first.p99);
        rec.add(M.corePageDeepP50, 'ms', deepPage.p50);
        rec.add(M.corePageDeepP99, 'ms', deepPage.p99);
        const server = await startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: false }, job.profileDir);
        try {
          const gFirst = percentiles(await timeGraphqlPages(server.url, undefined, job.sizes.pageQueries));
          const gDeep = percentiles(await timeGraphqlPages(server.url, cursor, job.sizes.pageQueries));
          rec.add(M.pageFirstP50, 'ms', gFirst.p50);
          rec.add(M.pageFirstP99, 'ms', gFirst.p99);
          rec.add(M.pageDeepP50, 'ms', gDeep.p50);
          rec.add(M.pageDeepP99, 'ms', gDeep.p99);
        } finally {
          await server.stop();
        }
        recordLatency(rec, 'with history: ', await measureLatency(system, job.sizes.latencyTasks, job.sizes.latencyGapMs));
      } finally {
        await system.close();
      }
      // The same drain on an empty table (a fresh copy of the template, never analyzed, as in (a)),
      // beside this one, so that both meet the same load from the rest of the machine: against
      // (a)'s drain, minutes earlier, the ratio followed the load (96.7 % and 87.4 % in two full runs
      // an hour apart). Twice each, in ABBA order, so that a drift of the load over the four weighs
      // on both sides alike; each empty drain on its own copy; a side's rate is its mean.
      const order = rep % 2 === 1 ? (['history', 'empty', 'empty', 'history'] as const) : (['empty', 'history', 'history', 'empty'] as const);
      const drains: number[] = [];
      for (const side of order) {
        const empty = side === 'empty' ? await freshDatabase(job.adminUrl, job.template) : undefined;
        try {
          const drainer = await createTaskwireSystem(empty?.url ?? db.url);
          try {
            drains.push(await drainOnce(drainer, job.sizes.drainTasks));
          } finally {
            await drainer.close();
          }
        } finally {
          await empty?.drop();
        }
      }
      const mean = (side: (typeof order)[number]): number => {
        const of = drains.filter((_, i) => order[i] === side);
        return of.reduce((a, b) => a + b, 0) / of.length;
      };
      const rates = { history: mean('history'), empty: mean('empty') };
      rec.notes.push(`history: repetition ${rep} drains in order ${order.join(', ')}: ${drains.map(Math.round).join(', ')} jobs/s`);
      rec.add(M.historyDrain, 'jobs/s', rates.history);
      rec.add(M.historyEmptyDrain, 'jobs/s', rates.empty);
      rec.add(M.historyDrainRatio, '×', rates.history / rates.empty);
    }
  } finally {
    await db.drop();
  }
}
