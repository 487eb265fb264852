/**
 * `npx tsx bench/tools/storage-layouts.ts [tasks=20000] [rounds=3] [listRows=1000000] [layouts=a,a2,…]`: what a task
 * costs PostgreSQL to enqueue, claim and complete under each storage layout of issue 17
 * (docs/decisions.md "Storage layout (issue 17)"), at the SQL level, on its own embedded
 * PostgreSQL (autovacuum off, so nothing else writes WAL). Per layout and round, a fresh
 * database migrated as shipped, changed to the layout, then: one INSERT of `tasks` tasks (as a
 * bulk enqueue, with their ENQUEUED events), claims of 500 in claim order (FOR UPDATE SKIP
 * LOCKED, with STARTED events), completions of 500 by id (with SUCCEEDED events); each
 * statement commits on its own, as the worker's do. Reported per task: client-side time per
 * phase and WAL bytes (pg_stat_wal), medians over rounds; and HOT updates of tasks.
 * Then the list cost of dropping the name/queue/status indexes: newest-first pages of 50
 * filtered by name, queue and status over `listRows` finished tasks, with and without them.
 *
 * Layouts: (a) before issue 17 (tasks_status_id_idx on every status); (a2) as shipped: the status
 * index leaves SUCCEEDED out (drizzle/0017); (b) without the name, queue and status list indexes;
 * (c) a hot queue table (task_queue: waiting and running rows, claim and lease indexes) apart
 * from the task record, which no index on a changing column covers (retention by a BRIN on
 * expires_at, which does not prevent HOT) and has fillfactor 75, so its updates are HOT;
 * (c50) the same with fillfactor 50; (d) finished tasks moved at completion into a history table partitioned by finished_at
 * (retention = DROP of a partition), the live table keeping only the claim-side indexes;
 * (p) the same split done by PostgreSQL: `tasks` itself partitioned by LIST (status) into a live
 * partition (the claim-side indexes) and a finished one (range-partitioned by finished_at; the list
 * indexes, as (d)'s history), so the completion stays an UPDATE that PostgreSQL turns into a move,
 * the workflow triggers still fire, and no reader of `tasks` changes.
 */
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createDatabase, startBenchPostgres } from '../lib/pg.js';
import { summarize } from '../lib/stats.js';

const TASKS = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const LIST_ROWS = Number(process.argv[4] ?? 1_000_000);
const BATCH = 500;
/** The layouts to measure (a comma list, 4th argument after listRows; default all). */
const ONLY = process.argv[5]?.split(',');

type Layout = 'a' | 'a2' | 'b' | 'c' | 'c50' | 'd' | 'p';
const LAYOUTS: Record<Layout, string> = {
  a: 'before issue 17 (15 indexes, 20 entries/task)',
  a2: 'status index without SUCCEEDED (shipped, 0017)',
  b: 'no name/queue/status list indexes',
  c: 'hot queue table + HOT task record (ff 75)',
  c50: 'the same, task record at fillfactor 50',
  d: 'finished tasks moved to a partitioned history',
  p: 'tasks partitioned by status: live / finished',
};

const EVENTS = (type: string): string => `
  logged AS (INSERT INTO task_events (task_id, version, type, status, attempt)
             SELECT id, version, '${type}', status, attempts FROM changed),
  notified AS (SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
               FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c GROUP BY chunk)
  SELECT (SELECT count(*) FROM changed) AS n, (SELECT count(*) FROM notified) AS notes`;

const CLAIM_PICK = (table: string): string => `
  SELECT id FROM ${table} WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now()
  ORDER BY priority DESC NULLS LAST, run_after, id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`;

const RUNNING = `status = 'RUNNING', attempts = t.attempts + 1, version = t.version + 1,
  started_at = coalesce(t.started_at, clock_timestamp()), last_attempted_at = clock_timestamp(),
  worker_ids = array_append(t.worker_ids, 'w1')`;
const SUCCEEDED = `status = 'SUCCEEDED', return_value = NULL, version = t.version + 1, finished_at = clock_timestamp()`;

/** DDL that turns the shipped schema into the layout. */
async function setUp(sql: postgres.Sql, layout: Layout): Promise<void> {
  if (layout === 'a') await sql.unsafe(`DROP INDEX tasks_status_not_succeeded_idx; CREATE INDEX tasks_status_id_idx ON tasks (status, id)`);
  if (layout === 'b') await sql.unsafe(`DROP INDEX tasks_name_id_idx, tasks_queue_id_idx, tasks_status_not_succeeded_idx`);
  if (layout === 'c' || layout === 'c50') {
    await sql.unsafe(`
      DROP INDEX tasks_name_id_idx, tasks_status_not_succeeded_idx, tasks_claim_idx, tasks_queue_claim_idx, tasks_key_claim_idx,
                 tasks_lease_idx, tasks_running_queue_key_idx, tasks_expires_idx;
      CREATE INDEX tasks_name_id_idx ON tasks (name, id);
      CREATE INDEX tasks_expires_brin ON tasks USING brin (expires_at);
      ALTER TABLE tasks SET (fillfactor = ${layout === 'c' ? 75 : 50});
      CREATE TABLE task_queue (
        id uuid PRIMARY KEY, queue text NOT NULL, priority smallint NOT NULL, run_after timestamptz NOT NULL,
        status task_status NOT NULL DEFAULT 'PENDING', locked_by text, lease_expires_at timestamptz, concurrency_key text)
        WITH (fillfactor = 75);
      CREATE INDEX task_queue_claim_idx ON task_queue (priority DESC, run_after, id) WHERE status IN ('PENDING', 'RETRYING');
      CREATE INDEX task_queue_lease_idx ON task_queue (lease_expires_at) WHERE status = 'RUNNING';`);
  }
  if (layout === 'p') await partitionByStatus(sql);
  if (layout === 'd') {
    await sql.unsafe(`
      CREATE TABLE task_history (LIKE tasks INCLUDING DEFAULTS) PARTITION BY RANGE (finished_at);
      CREATE TABLE task_history_now PARTITION OF task_history
        FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');
      ALTER TABLE task_history ADD PRIMARY KEY (id, finished_at);
      CREATE INDEX ON task_history (tenant, id);
      CREATE INDEX ON task_history (name, id);
      CREATE INDEX ON task_history (queue, id);
      CREATE INDEX ON task_history (status, id);
      DROP INDEX tasks_name_id_idx, tasks_queue_id_idx, tasks_status_not_succeeded_idx, tasks_tenant_not_default_idx, tasks_expires_idx;`);
  }
}

/**
 * (p): `tasks` rebuilt as a partitioned table with the same columns, defaults and workflow triggers.
 * No primary key on the parent (it would have to include status and finished_at): each leaf has
 * its own on id. The indexes follow (d): list indexes on the finished side only.
 */
async function partitionByStatus(sql: postgres.Sql): Promise<void> {
  const triggers = await sql`SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = 'tasks'::regclass AND NOT tgisinternal`;
  const claimSide = await sql`SELECT indexdef FROM pg_indexes WHERE tablename = 'tasks'
    AND indexname IN ('tasks_claim_idx', 'tasks_queue_claim_idx', 'tasks_key_claim_idx', 'tasks_lease_idx',
                      'tasks_running_queue_key_idx', 'tasks_workflow_idx', 'tasks_schedule_id_idx')`;
  await sql.unsafe(`
    ALTER TABLE tasks RENAME TO tasks_old;
    CREATE TABLE tasks (LIKE tasks_old INCLUDING DEFAULTS) PARTITION BY LIST (status);
    CREATE TABLE tasks_live PARTITION OF tasks FOR VALUES IN ('BLOCKED', 'PENDING', 'RUNNING', 'RETRYING');
    CREATE TABLE tasks_finished PARTITION OF tasks FOR VALUES IN ('SUCCEEDED', 'FAILED', 'CANCELLED') PARTITION BY RANGE (finished_at);
    CREATE TABLE tasks_finished_now PARTITION OF tasks_finished
      FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');
    ALTER TABLE tasks_live ADD PRIMARY KEY (id);
    CREATE UNIQUE INDEX ON tasks_live (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE UNIQUE INDEX ON tasks_live (schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL;
    ALTER TABLE tasks_finished ADD PRIMARY KEY (id, finished_at);
    CREATE INDEX ON tasks_finished (tenant, id);
    CREATE INDEX ON tasks_finished (name, id);
    CREATE INDEX ON tasks_finished (queue, id);
    CREATE INDEX ON tasks_finished (status, id);`);
  for (const { indexdef } of claimSide) {
    await sql.unsafe(String(indexdef).replace(/INDEX (\w+) ON public\.tasks /, 'INDEX $1_p ON public.tasks_live '));
  }
  for (const { def } of triggers) await sql.unsafe(String(def).replace(' ON public.tasks_old ', ' ON public.tasks '));
  // CASCADE: functions returning the row type (taskwire_claim) go with it; the measured statements are this file's own.
  await sql.unsafe(`DROP TABLE tasks_old CASCADE`);
}

function insertSql(layout: Layout): string {
  const input = `SELECT uuidv7() AS id, 'bench.noop' AS name, jsonb_build_array(g) AS args FROM generate_series(1, ${TASKS}) g`;
  const queueRow = layout === 'c' || layout === 'c50'
    ? `, queued AS (INSERT INTO task_queue (id, queue, priority, run_after) SELECT id, queue, priority, run_after FROM changed)`
    : '';
  return `WITH changed AS (INSERT INTO tasks (id, name, args) ${input} RETURNING id, version, status, attempts, queue, priority, run_after)
    ${queueRow}, ${EVENTS('ENQUEUED')}`;
}

function claimSql(layout: Layout): string {
  if (layout === 'c' || layout === 'c50') {
    return `WITH next AS (${CLAIM_PICK('task_queue')}),
      queued AS (UPDATE task_queue q SET status = 'RUNNING', locked_by = 'w1', lease_expires_at = now() + interval '30 s'
                 WHERE q.id = ANY(ARRAY(SELECT id FROM next))),
      changed AS (UPDATE tasks t SET ${RUNNING}, locked_by = 'w1', lease_expires_at = now() + interval '30 s'
                  WHERE t.id = ANY(ARRAY(SELECT id FROM next)) RETURNING t.id, t.version, t.status, t.attempts),
      ${EVENTS('STARTED')}`;
  }
  return `WITH next AS (${CLAIM_PICK('tasks')}),
    changed AS (UPDATE tasks t SET ${RUNNING}, locked_by = 'w1', lease_expires_at = now() + interval '30 s'
                WHERE t.id = ANY(ARRAY(SELECT id FROM next)) RETURNING t.id, t.version, t.status, t.attempts),
    ${EVENTS('STARTED')}`;
}

function completeSql(layout: Layout): string {
  const where = `t.id = ANY($1::uuid[]) AND t.status = 'RUNNING' AND t.locked_by = 'w1'`;
  if (layout === 'c' || layout === 'c50') {
    return `WITH dequeued AS (DELETE FROM task_queue q WHERE q.id = ANY($1::uuid[])),
      changed AS (UPDATE tasks t SET ${SUCCEEDED}, locked_by = NULL, lease_expires_at = NULL,
                  expires_at = clock_timestamp() + interval '7 days'
                  WHERE ${where} RETURNING t.id, t.version, t.status, t.attempts),
      ${EVENTS('SUCCEEDED')}`;
  }
  return `WITH changed AS (UPDATE tasks t SET ${SUCCEEDED}, locked_by = NULL, lease_expires_at = NULL,
                expires_at = clock_timestamp() + interval '7 days'
                WHERE ${where} RETURNING t.id, t.version, t.status, t.attempts),
    ${EVENTS('SUCCEEDED')}`;
}

/** (d): the moved row with the completion's changes, column for column in the table's order. */
async function historyCompleteSql(sql: postgres.Sql): Promise<string> {
  const cols = (await sql`SELECT attname FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
    .map((r) => String(r.attname));
  const set: Record<string, string> = {
    status: `'SUCCEEDED'::task_status`, version: 'm.version + 1', finished_at: 'clock_timestamp()',
    return_value: 'NULL::jsonb', locked_by: 'NULL::text', lease_expires_at: 'NULL::timestamptz',
    expires_at: `clock_timestamp() + interval '7 days'`,
  };
  return `WITH moved AS (DELETE FROM tasks t WHERE t.id = ANY($1::uuid[]) AND t.status = 'RUNNING' AND t.locked_by = 'w1' RETURNING t.*),
    changed AS (INSERT INTO task_history (${cols.join(', ')})
                SELECT ${cols.map((c) => set[c] ?? `m.${c}`).join(', ')} FROM moved m
                RETURNING id, version, status, attempts),
    ${EVENTS('SUCCEEDED')}`;
}

async function walBytes(sql: postgres.Sql): Promise<number> {
  // The insert position, not pg_stat_wal (flushed to the shared stats at most once a second):
  // autovacuum is off and this is the only session, so the WAL written in between is ours.
  const [row] = await sql`SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::float8 AS b`;
  return Number(row?.b);
}

interface Phase { ms: number; wal: number }
interface Round { insert: Phase; claim: Phase; complete: Phase; hot: string }

async function round(adminUrl: string, layout: Layout): Promise<Round> {
  const url = await createDatabase(adminUrl, `layout_${layout}`);
  await migrateDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    await setUp(sql, layout);
    // The claim walks its index in order whatever the planner guesses (as taskwire_claim_order does).
    await sql`SET enable_bitmapscan = off`;
    await sql`SET enable_sort = off`;
    await sql`CHECKPOINT`;
    const measure = async (run: () => Promise<void>): Promise<Phase> => {
      const w0 = await walBytes(sql);
      const t0 = performance.now();
      await run();
      const ms = performance.now() - t0;
      return { ms: ms / TASKS, wal: ((await walBytes(sql)) - w0) / TASKS };
    };
    const insert = await measure(async () => { await sql.unsafe(insertSql(layout)); });
    const claimed: string[] = [];
    const claimText = claimSql(layout);
    const claim = await measure(async () => {
      for (;;) {
        const rows = await sql.unsafe(`${claimText}, (SELECT array_agg(id) FROM changed) AS ids`);
        const ids = (rows[0]?.ids ?? []) as string[];
        if (ids.length === 0) break;
        claimed.push(...ids);
      }
    });
    if (claimed.length !== TASKS) throw new Error(`(${layout}) claimed ${claimed.length} of ${TASKS}`);
    const completeText = layout === 'd' ? await historyCompleteSql(sql) : completeSql(layout);
    const complete = await measure(async () => {
      for (let i = 0; i < claimed.length; i += BATCH) {
        const [row] = await sql.unsafe(completeText, [claimed.slice(i, i + BATCH)]);
        if (Number(row?.n) !== Math.min(BATCH, claimed.length - i)) throw new Error(`(${layout}) completed ${row?.n}`);
      }
    });
    await sql`SELECT pg_stat_force_next_flush()`;
    await sql`SELECT 1`;
    await sql`SELECT pg_stat_clear_snapshot()`;
    const [stats] = await sql`SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'tasks'`;
    return { insert, claim, complete, hot: `${stats?.n_tup_hot_upd}/${stats?.n_tup_upd}` };
  } finally {
    await sql.end();
  }
}

/** Newest-first pages of 50 over `LIST_ROWS` finished tasks, by filter, with and without the list indexes. */
async function listCost(adminUrl: string): Promise<void> {
  const url = await createDatabase(adminUrl, 'layout_list');
  await migrateDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    // 20 task names (one rare: 0.1 %), 5 queues, statuses 97 % SUCCEEDED, 2 % FAILED, 1 % CANCELLED.
    for (let done = 0; done < LIST_ROWS; done += 100_000) {
      await sql.unsafe(`INSERT INTO tasks (id, name, queue, status, finished_at)
        SELECT uuidv7(), CASE WHEN g % 1000 = 0 THEN 'rare' ELSE 'name' || (g % 19) END, 'q' || (g % 5),
               (CASE WHEN g % 100 < 97 THEN 'SUCCEEDED' WHEN g % 100 < 99 THEN 'FAILED' ELSE 'CANCELLED' END)::task_status, now()
        FROM generate_series(${done + 1}, ${Math.min(LIST_ROWS, done + 100_000)}) g`);
    }
    await sql`VACUUM ANALYZE tasks`;
    const filters: Array<[string, string]> = [
      ['name (5 %)', `name = 'name3'`], ['name (0.1 %)', `name = 'rare'`], ['name (none)', `name = 'nosuch'`], ['queue (20 %)', `queue = 'q2'`],
      ['status FAILED (2 %)', `status = 'FAILED'`], ['status SUCCEEDED (97 %)', `status = 'SUCCEEDED'`],
      ['status PENDING/RUNNING (0)', `status IN ('PENDING', 'RUNNING')`],
    ];
    const time = async (where: string): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const rows = await sql.unsafe(`EXPLAIN (ANALYZE) SELECT * FROM tasks WHERE ${where} ORDER BY id DESC LIMIT 50`);
        times.push(Number(/Execution Time: ([\d.]+)/.exec(rows.map((r) => String(r['QUERY PLAN'])).join('\n'))?.[1]));
      }
      return summarize(times).median;
    };
    const timeAll = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const [, where] of filters) out.push(await time(where));
      return out;
    };
    await sql`CREATE INDEX tasks_status_id_idx ON tasks (status, id)`;
    await sql`VACUUM ANALYZE tasks`;
    const before = await timeAll();
    await sql`DROP INDEX tasks_status_id_idx`;
    const shipped = await timeAll();
    await sql`DROP INDEX tasks_name_id_idx, tasks_queue_id_idx, tasks_status_not_succeeded_idx`;
    const none = await timeAll();
    console.log(`\nList page of 50, newest first, ${LIST_ROWS.toLocaleString('en')} finished tasks (EXPLAIN ANALYZE, median of 5), ms:`);
    console.log(`  ${'filter'.padEnd(28)} (a) all   (a2) shipped   (b) no list indexes`);
    for (const [i, [label]] of filters.entries()) {
      console.log(`  ${label.padEnd(28)} ${before[i]?.toFixed(2).padStart(7)} ${shipped[i]?.toFixed(2).padStart(12)} ${none[i]?.toFixed(2).padStart(14)}`);
    }
  } finally {
    await sql.end();
  }
}

const layouts = (Object.keys(LAYOUTS) as Layout[]).filter((l) => !ONLY || ONLY.includes(l));
const pg = await startBenchPostgres(['-c', 'autovacuum=off']);
try {
  const results: Record<string, Round[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const layout of layouts) (results[layout] ??= []).push(await round(pg.adminUrl, layout));
  }
  console.log(`${TASKS.toLocaleString('en')} tasks, claims and completions of ${BATCH}; per task, median of ${ROUNDS} rounds`);
  console.log('layout                                              insert µs  WAL B | claim µs  WAL B | complete µs  WAL B | total µs  WAL B | HOT/upd (last)');
  for (const layout of layouts) {
    const rs = results[layout] as Round[];
    const med = (f: (r: Round) => number): number => summarize(rs.map(f)).median;
    const us = (f: (r: Round) => number): string => (med(f) * 1000).toFixed(1).padStart(8);
    const b = (f: (r: Round) => number): string => Math.round(med(f)).toString().padStart(6);
    console.log(`(${layout}) ${LAYOUTS[layout].padEnd(46)} ${us((r) => r.insert.ms)} ${b((r) => r.insert.wal)} | ${us((r) => r.claim.ms)} ${b((r) => r.claim.wal)} | ${us((r) => r.complete.ms)} ${b((r) => r.complete.wal)}    | ${us((r) => r.insert.ms + r.claim.ms + r.complete.ms)} ${b((r) => r.insert.wal + r.claim.wal + r.complete.wal)} | ${rs[rs.length - 1]?.hot}`);
  }
  if (LIST_ROWS > 0) await listCost(pg.adminUrl);
} finally {
  await pg.stop();
}
process.exit(0);
