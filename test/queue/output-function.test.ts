import { describe, expect, it } from 'vitest';
import type { Executor, Sql } from '../../src/db/client.js';
import { EVENTS_CHANNEL } from '../../src/queue/events.js';
import { appendOutput, TRUNCATED_MARKER, type OutputAppend } from '../../src/queue/sql/append-output.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import type { Task } from '../../src/queue/task.js';
import { explainedPlans } from '../helpers/explained-plans.js';
import { eventPayloadsOf, expectBatchWriteWalksPrimaryKey } from '../helpers/function-tests.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';

// A worker's output chunks are stored by taskwire_append_output (drizzle/0021_output_function.sql),
// whose plan is generic and cached. It must store what the statement it replaced stored (kept
// below), drop the same stale chunks, and find its rows by tasks_pkey for any batch, with or
// without statistics.
const env = useQueueTestApp();
const WORKER = 'w-output';
const LEASE_MS = 60_000;

/** The statement appendOutput sent before taskwire_append_output, word for word but for last_event_tx (drizzle/0041) (its input built the same way). */
async function appendByStatement(exec: Executor, workerId: string, appends: readonly OutputAppend[], capBytes: number): Promise<string[]> {
  const input = `[${appends
    .map((a) => {
      const chunks = a.truncated ? [...a.chunks, TRUNCATED_MARKER] : a.chunks;
      const bytes = a.chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
      return `{"i":"${a.id}","a":${a.attempt},"b":${bytes},"t":${a.truncated},"c":[${chunks.join(',')}]}`;
    })
    .join(',')}]`;
  const rows = await exec`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS x(i uuid, a int, b int, t boolean, c jsonb)
    ),
    changed AS (
      UPDATE tasks t SET
        version = t.version + jsonb_array_length(input.c),
        last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
        output_bytes = CASE WHEN input.t THEN greatest(t.output_bytes + input.b, ${capBytes}::int) ELSE t.output_bytes + input.b END
      FROM input
      WHERE t.id = input.i AND t.status = 'RUNNING' AND t.locked_by = ${workerId} AND t.attempts = input.a
      RETURNING t.id, t.version, t.status, t.attempts, t.last_event_tx, input.c AS chunks
    ),
    logged AS (
      INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, output, tx)
      SELECT changed.id, changed.version - jsonb_array_length(changed.chunks) + e.ord::int, 'OUTPUT', changed.status,
             changed.attempts, ${workerId}, e.chunk, changed.last_event_tx
      FROM changed, jsonb_array_elements(changed.chunks) WITH ORDINALITY AS e(chunk, ord)
    ),
    notified AS (
      SELECT pg_notify(${EVENTS_CHANNEL}, string_agg(id::text || ':' || version || ':' || status || ':O', ','))
      FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
      GROUP BY chunk
    )
    SELECT id, (SELECT count(*) FROM notified) AS notifications FROM changed`;
  return rows.map((r) => String(r.id));
}

/** The plans of appending one chunk to each of `count` tasks claimed in the same (rolled back) transaction: the caller's last. */
function appendPlans(url: string, count: number): Promise<string[][]> {
  let claimed: Task[] = [];
  return explainedPlans(
    url,
    async (c) => {
      const stored = await appendOutput(c, 'plan-probe', claimed.map((t) => ({ id: t.id, attempt: t.attempts, chunks: ['"x"'], truncated: false })));
      expect(stored).toHaveLength(count);
    },
    {
      before: async (c) => {
        claimed = await claimTasks(c, { workerId: 'plan-probe', limit: count, queues: ['plan-q'], leaseMs: LEASE_MS });
        expect(claimed).toHaveLength(count);
      },
    },
  );
}

/** What a task is after the append; ids in `order`. */
/** The task's output chunks in the log, in order. */
async function outputOf(id: string): Promise<unknown[]> {
  const rows = await env.app.sql`SELECT output FROM task_events WHERE task_id = ${id} AND type = 'OUTPUT' ORDER BY version`;
  return rows.map((r) => r.output);
}

async function storedRows(sql: Sql, ids: readonly string[]): Promise<Record<string, unknown>[]> {
  const rows = await sql`
    SELECT t.status, t.version, t.attempts, t.output_bytes, t.locked_by
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN tasks t ON t.id = w.id ORDER BY w.o`;
  return rows.map((r) => ({ ...r }));
}

/** The OUTPUT events of `ids`, by place in `ids`. */
async function outputEvents(sql: Sql, ids: readonly string[]): Promise<unknown[]> {
  const rows = await sql`
    SELECT w.o, e.version, e.type, e.status, e.attempt, e.worker_id, e.output
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN task_events e ON e.task_id = w.id
    WHERE e.type = 'OUTPUT' ORDER BY w.o, e.version`;
  return rows.map((r) => ({ ...r }));
}

/**
 * Tasks in each situation an append meets, and a batch for them: running (several chunks; the cap
 * reached, with its marker), 150 more to take the notifications past one NOTIFY, another worker's,
 * an attempt older than the task's, a finished task.
 */
async function situation(tag: string): Promise<{ ids: string[]; appends: OutputAppend[] }> {
  const { sql, deps } = env.app;
  const queue = `oq-${tag}`;
  await deps.queue.enqueueMany(Array.from({ length: 152 }, () => ({ name: 'test.record', queue })));
  const claimed = await claimTasks(sql, { workerId: WORKER, limit: 200, queues: [queue], leaseMs: LEASE_MS });
  expect(claimed).toHaveLength(152);
  // In enqueue order (the claim's order is by priority, then due time, then id).
  claimed.sort((a, b) => (a.id < b.id ? -1 : 1));
  const [several, capped, ...more] = claimed as [Task, Task, ...Task[]];
  const others = await insertTask(sql, { status: 'RUNNING', queue, workerId: 'w-other' });
  const older = await insertTask(sql, { status: 'RUNNING', queue, workerId: WORKER, attempts: 2, maxAttempts: 3 });
  const finished = await insertTask(sql, { status: 'SUCCEEDED', queue, workerId: WORKER });
  const appends: OutputAppend[] = [
    { id: several.id, attempt: 1, chunks: ['"a"', '{"n":1}', '[1,"b"]'], truncated: false },
    { id: capped.id, attempt: 1, chunks: ['"0123456789"'], truncated: true },
    ...more.map((t) => ({ id: t.id, attempt: 1, chunks: ['1'], truncated: false })),
    { id: others.id, attempt: 1, chunks: ['"no"'], truncated: false },
    { id: older.id, attempt: 1, chunks: ['"stale"'], truncated: false },
    { id: finished.id, attempt: 1, chunks: ['"late"'], truncated: false },
  ];
  return { ids: appends.map((a) => a.id), appends };
}

describe('taskwire_append_output (a worker storing output chunks)', () => {
  it('is what the caller sends, a function scan; the update walks tasks_pkey for 1 or 300 tasks, with or without statistics', async () => {
    const { database } = env.app;
    await expectBatchWriteWalksPrimaryKey(env.app, { waiting: 2000, large: 300, plansOf: (count) => appendPlans(database.url, count) });
  });

  it('stores, logs and announces what the statement did, and drops the same stale chunks', async () => {
    const { sql, database } = env.app;
    const CAP = 100;
    const viaFunction = await situation('fn');
    const viaStatement = await situation('st');
    const stored: string[][] = [];
    const heardFunction = await eventPayloadsOf(database.url, viaFunction.ids, async () =>
      stored.push(await appendOutput(sql, WORKER, viaFunction.appends, CAP)),
    );
    const heardStatement = await eventPayloadsOf(database.url, viaStatement.ids, async () =>
      stored.push(await appendByStatement(sql, WORKER, viaStatement.appends, CAP)),
    );
    const places = (ids: readonly string[], of: readonly string[]): number[] => ids.map((id) => of.indexOf(id)).sort((a, b) => a - b);
    // The 152 running under this worker in this attempt; not another worker's, an older attempt's or a finished task's.
    expect(places(stored[0] ?? [], viaFunction.ids)).toEqual(Array.from({ length: 152 }, (_, i) => i));
    expect(places(stored[0] ?? [], viaFunction.ids)).toEqual(places(stored[1] ?? [], viaStatement.ids));

    const rows = await storedRows(sql, viaFunction.ids);
    expect(rows).toEqual(await storedRows(sql, viaStatement.ids));
    // Claimed at version 2: three chunks take it to 5; the capped task's bytes are raised to the cap.
    expect(rows.slice(0, 2).map((r) => [r.status, r.version, r.outputBytes])).toEqual([
      ['RUNNING', 5, 17],
      ['RUNNING', 4, CAP],
    ]);
    expect(rows.slice(2, 152).every((r) => r.version === 3 && r.outputBytes === 1)).toBe(true);
    expect(rows.slice(152).map((r) => [r.status, r.outputBytes])).toEqual([
      ['RUNNING', 0],
      ['RUNNING', 0],
      ['SUCCEEDED', 0],
    ]);

    const events = await outputEvents(sql, viaFunction.ids);
    expect(events).toEqual(await outputEvents(sql, viaStatement.ids));
    expect(events.slice(0, 5)).toEqual([
      { o: 1, version: 3, type: 'OUTPUT', status: 'RUNNING', attempt: 1, workerId: WORKER, output: 'a' },
      { o: 1, version: 4, type: 'OUTPUT', status: 'RUNNING', attempt: 1, workerId: WORKER, output: { n: 1 } },
      { o: 1, version: 5, type: 'OUTPUT', status: 'RUNNING', attempt: 1, workerId: WORKER, output: [1, 'b'] },
      { o: 2, version: 3, type: 'OUTPUT', status: 'RUNNING', attempt: 1, workerId: WORKER, output: '0123456789' },
      { o: 2, version: 4, type: 'OUTPUT', status: 'RUNNING', attempt: 1, workerId: WORKER, output: { truncated: true } },
    ]);
    expect(events).toHaveLength(3 + 2 + 150);
    expect(heardFunction).toHaveLength(2);
    expect(heardFunction.join(',').split(',')).toHaveLength(152);
    expect(heardFunction.every((p) => p.split(',').every((n) => n.endsWith(':RUNNING:O')))).toBe(true);
    // The same announcements; in what order the statement's UPDATE … FROM met its rows is up to its plan.
    const entries = (payloads: string[]): string[] => payloads.join(',').split(',').sort();
    expect(entries(heardFunction)).toEqual(entries(heardStatement));
  });

  it('stores nothing and sends nothing when no append matches', async () => {
    const { sql, database } = env.app;
    const task = await insertTask(sql, { status: 'RUNNING', workerId: 'w-other' });
    const heard = await eventPayloadsOf(database.url, [task.id], async () => {
      expect(await appendOutput(sql, WORKER, [{ id: task.id, attempt: 1, chunks: ['"x"'], truncated: false }])).toEqual([]);
    });
    expect(heard).toEqual([]);
    expect((await storedRows(sql, [task.id]))[0]).toMatchObject({ status: 'RUNNING', version: 2, outputBytes: 0 });
  });

  it('stores an append that says its count once, however often it is sent, and reports it stored each time (drizzle/0038)', async () => {
    const { sql, database } = env.app;
    const CAP = 20;
    const running: Task[] = [];
    for (let i = 0; i < 4; i++) running.push(await insertTask(sql, { status: 'RUNNING', workerId: WORKER, queue: 'once-q' }));
    const [plain, capped, behind, older] = running;
    const appends = [
      { id: plain!.id, attempt: 1, chunks: ['"ab"', '[1]'], truncated: false, bytesBefore: 0 },
      { id: capped!.id, attempt: 1, chunks: ['"abcdef"'], truncated: true, bytesBefore: 0 },
      // Counts bytes the task does not have (its writer lost track): neither appended nor reported.
      { id: behind!.id, attempt: 1, chunks: ['"x"'], truncated: false, bytesBefore: 7 },
    ];
    const ids = [plain!.id, capped!.id, behind!.id, older!.id];
    const stored: string[][] = [];
    const heard = await eventPayloadsOf(database.url, ids, async () => {
      for (let i = 0; i < 3; i++) stored.push(await appendOutput(sql, WORKER, appends, CAP));
    });
    for (const s of stored) expect([...s].sort()).toEqual([plain!.id, capped!.id].sort());
    // Announced once: the later sends found them stored.
    expect(heard.join(',').split(',').sort()).toEqual(['#0:4:RUNNING:O', '#1:4:RUNNING:O']);
    expect(await outputOf(plain!.id)).toEqual(['ab', [1]]);
    expect(await outputOf(capped!.id)).toEqual(['abcdef', { truncated: true }]);
    expect(await outputOf(behind!.id)).toEqual([]);
    const rows = await storedRows(sql, ids.slice(0, 3));
    expect(rows.map((r) => [r.version, r.outputBytes])).toEqual([[4, 7], [4, CAP], [2, 0]]);
    // An append without a count (a worker of an older taskwire) is stored whenever it is sent.
    const legacy = { id: older!.id, attempt: 1, chunks: ['"x"'], truncated: false };
    await appendOutput(sql, WORKER, [legacy], CAP);
    await appendOutput(sql, WORKER, [legacy], CAP);
    expect(await outputOf(older!.id)).toEqual(['x', 'x']);
  });
});
