import { describe, expect, it } from 'vitest';
import { createDb, type Sql } from '../../src/db/client.js';
import { EVENTS_CHANNEL, JOBS_CHANNEL } from '../../src/queue/events.js';
import { insertTasks, type NewTaskRow } from '../../src/queue/sql/insert-tasks.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { explainedPlans } from '../helpers/explained-plans.js';
import { useQueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// Rows without idempotency keys are inserted by taskwire_enqueue (drizzle/0019_enqueue_function.sql),
// whose plan is cached; rows with keys by the statement in insert-tasks.ts. The two must store the
// same tasks, log the same events and send the same notifications.
const env = useQueueTestApp();

function row(i: number, over: Partial<NewTaskRow> = {}): NewTaskRow {
  return {
    id: uuidv7(),
    name: 'test.record',
    queue: 'default',
    priority: 0,
    args: `[${i}]`,
    kwargs: '{}',
    maxAttempts: 3,
    runAfter: null,
    idempotencyKey: null,
    timeoutMs: null,
    resultTtlMs: null,
    backoff: null,
    tenant: 'default',
    createdBy: null,
    concurrencyKey: null,
    ...over,
  };
}

/** Rows that differ in every column the insert sets, so that each column travels as a per-row array. */
function variedRows(count: number): NewTaskRow[] {
  return Array.from({ length: count }, (_, i) =>
    i % 3 === 0
      ? row(i)
      : row(i, {
          name: i % 3 === 1 ? 'test.other' : 'test.record',
          queue: `fn-q${i % 3}`,
          priority: i % 3 === 1 ? -5 : 7,
          kwargs: `{"k":${i}}`,
          maxAttempts: 1 + (i % 3),
          runAfter: i % 3 === 1 ? '2030-01-02T03:04:05.678Z' : null,
          timeoutMs: 1000 * i,
          resultTtlMs: 86_400_000 * (i % 3),
          backoff: i % 3 === 2 ? { baseMs: 10, maxMs: 1000, factor: 2, jitter: 0.1 } : null,
          tenant: i % 3 === 1 ? 'acme' : 'default',
          createdBy: `user-${i % 3}`,
          concurrencyKey: i % 3 === 2 ? 'ck' : null,
        }),
  );
}

/** What a stored task is, apart from its id and key; run_after as given or as its enqueued_at. */
async function storedRows(sql: Sql, ids: readonly string[]): Promise<Record<string, unknown>[]> {
  const rows = await sql`
    SELECT t.*, t.run_after = t.enqueued_at AS run_at_enqueue FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o)
    JOIN tasks t ON t.id = w.id ORDER BY w.o`;
  // last_event_tx is each insert's transaction id: the two sets' differ by construction.
  return rows.map(({ id: _id, idempotencyKey: _key, enqueuedAt: _at, lastEventTx: _tx, runAfter, runAtEnqueue, ...rest }) => ({
    ...rest,
    runAfter: runAtEnqueue ? 'enqueued_at' : runAfter,
  }));
}

async function eventRows(sql: Sql, ids: readonly string[]): Promise<unknown[]> {
  const rows = await sql`
    SELECT w.o, e.version, e.type, e.status, e.attempt, e.worker_id, e.progress, e.error
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN task_events e ON e.task_id = w.id ORDER BY w.o, e.version`;
  return rows.map((r) => ({ ...r }));
}

/**
 * The payloads `insert` sends on both channels, ids replaced by their place in `ids`. A marker sent
 * after it arrives after them (notifications of one session arrive in commit order).
 */
async function payloadsOf(url: string, ids: readonly string[], insert: () => Promise<unknown>): Promise<Record<string, string[]>> {
  const db = createDb(url, { max: 1 });
  const heard: Record<string, string[]> = { [EVENTS_CHANNEL]: [], [JOBS_CHANNEL]: [] };
  try {
    for (const channel of [EVENTS_CHANNEL, JOBS_CHANNEL]) await db.sql.listen(channel, (p) => heard[channel]?.push(p));
    await insert();
    await db.sql`SELECT pg_notify(${EVENTS_CHANNEL}, 'marker'), pg_notify(${JOBS_CHANNEL}, 'marker')`;
    await waitFor(() => heard[EVENTS_CHANNEL]?.includes('marker') && heard[JOBS_CHANNEL]?.includes('marker'), { message: 'the markers' });
  } finally {
    await db.close();
  }
  const place = new Map(ids.map((id, i) => [id, String(i)]));
  const anonymous = (p: string): string => p.replace(/[0-9a-f-]{36}/g, (id) => `#${place.get(id) ?? id}`);
  return {
    // Sorted: which chunk of 100 goes first is up to the plan's grouping, in the statement too.
    [EVENTS_CHANNEL]: (heard[EVENTS_CHANNEL] ?? []).filter((p) => p !== 'marker').map(anonymous).sort(),
    // A due notice's delay is read from the clock of its statement: the two inserts' differ.
    [JOBS_CHANNEL]: (heard[JOBS_CHANNEL] ?? []).filter((p) => p !== 'marker').map((p) => p.replace(/^due:\d+:/, 'due:<ms>:')).sort(),
  };
}

/** The plans of one insert of `rows` (rolled back): the caller's statement last, nested ones before it. */
function insertPlans(url: string, rows: readonly NewTaskRow[]): Promise<string[][]> {
  return explainedPlans(url, (c) => insertTasks(c, rows));
}

describe('taskwire_enqueue (an insert without idempotency keys)', () => {
  it('is what the caller sends: a function scan, the INSERT planned inside the function', async () => {
    for (const rows of [[row(1)], variedRows(5)]) {
      const plans = await insertPlans(env.app.database.url, rows);
      expect(plans.at(-1)).toEqual(['Function Scan']);
      expect(plans.slice(0, -1).flat()).toContain('ModifyTable');
    }
    // Rows with keys keep the statement (its ON CONFLICT): the INSERT is the caller's own plan.
    const keyed = await insertPlans(env.app.database.url, [row(1, { idempotencyKey: 'fn-plan-key' })]);
    expect(keyed.at(-1)).toContain('ModifyTable');
  });

  it('stores the tasks, events and notifications the statement stores', async () => {
    const { sql, database } = env.app;
    for (const count of [1, 3, 150]) {
      const plain = variedRows(count);
      // The same rows with keys go through the statement; keys are the only difference.
      const keyed = plain.map((r, i) => ({ ...r, id: uuidv7(), idempotencyKey: `fn-same-${count}-${i}` }));
      const outcomes: Awaited<ReturnType<typeof insertTasks>>[] = [];
      const heardPlain = await payloadsOf(database.url, plain.map((r) => r.id), async () => outcomes.push(await insertTasks(sql, plain)));
      const heardKeyed = await payloadsOf(database.url, keyed.map((r) => r.id), async () => outcomes.push(await insertTasks(sql, keyed)));

      expect(outcomes[0]?.insertedWithKey.size).toBe(0);
      expect(outcomes[1]?.insertedWithKey.size).toBe(count);
      const [viaFunction, viaStatement] = [await storedRows(sql, plain.map((r) => r.id)), await storedRows(sql, keyed.map((r) => r.id))];
      expect(viaFunction).toHaveLength(count);
      expect(viaFunction).toEqual(viaStatement);
      // enqueuedAt is the transaction's now(): the stored enqueued_at of every row.
      const [at] = await sql`SELECT enqueued_at FROM tasks WHERE id = ${plain[0]?.id ?? ''}`;
      expect(at?.enqueuedAt).toEqual(outcomes[0]?.enqueuedAt);

      const events = await eventRows(sql, plain.map((r) => r.id));
      expect(events).toHaveLength(count);
      expect(events).toEqual(await eventRows(sql, keyed.map((r) => r.id)));
      expect(events[0]).toMatchObject({ type: 'ENQUEUED', status: 'PENDING', version: 1, attempt: 0 });

      // One payload per 100 events, each `id:1:PENDING`; one wake-up per queue: its name when a task
      // of it is due now, a due notice when all are due later (fn-q1's, in 2030).
      expect(heardPlain[EVENTS_CHANNEL]).toHaveLength(Math.ceil(count / 100));
      expect(heardPlain[EVENTS_CHANNEL]?.join(',').split(',')).toHaveLength(count);
      expect(heardPlain[EVENTS_CHANNEL]?.[0]).toMatch(/^#\d+:1:PENDING/);
      expect(heardPlain).toEqual(heardKeyed);
      expect(heardPlain[JOBS_CHANNEL]).toEqual([...new Set(plain.map((r) => (r.runAfter ? `due:<ms>:${r.queue}` : r.queue)))].sort());
    }
  });

  it('wakes a queue by name for what is due now and with a due notice for the earliest task due later', async () => {
    const { sql, database } = env.app;
    const inMs = (ms: number): string => new Date(Date.now() + ms).toISOString();
    for (const withKeys of [false, true]) {
      const rows = [
        row(1, { queue: 'due-q' }),
        row(2, { queue: 'due-q', runAfter: inMs(60_000) }),
        row(3, { queue: 'due-q', runAfter: inMs(30_000) }),
        row(4, { queue: 'due-later-q', runAfter: inMs(90_000) }),
        // Already due: a runAfter in the past wakes by name.
        row(5, { queue: 'due-past-q', runAfter: inMs(-5_000) }),
      ].map((r, i) => (withKeys ? { ...r, idempotencyKey: `due-wake-${i}` } : r));
      const raw: string[] = [];
      const db = createDb(database.url, { max: 1 });
      try {
        await db.sql.listen(JOBS_CHANNEL, (p) => raw.push(p));
        await insertTasks(sql, rows);
        await db.sql`SELECT pg_notify(${JOBS_CHANNEL}, 'marker')`;
        await waitFor(() => raw.includes('marker'), { message: 'the marker' });
      } finally {
        await db.close();
      }
      const heard = raw.filter((p) => p !== 'marker').sort();
      expect(heard.map((p) => p.replace(/^due:\d+:/, 'due:<ms>:')).sort()).toEqual(['due-past-q', 'due-q', 'due:<ms>:due-later-q', 'due:<ms>:due-q']);
      const delay = (queue: string): number => Number(/^due:(\d+):/.exec(heard.find((p) => p.endsWith(`:${queue}`)) ?? '')?.[1]);
      // The earliest of due-q's later tasks (30 s), not its latest (60 s); a little less for the time the call took.
      expect(delay('due-q')).toBeGreaterThan(25_000);
      expect(delay('due-q')).toBeLessThanOrEqual(30_000);
      expect(delay('due-later-q')).toBeGreaterThan(85_000);
      expect(delay('due-later-q')).toBeLessThanOrEqual(90_000);
    }
  });

  it('fails with the statement’s SQLSTATE on a value a column refuses, storing nothing', async () => {
    const { sql } = env.app;
    const codeOf = (rows: NewTaskRow[]): Promise<unknown> => insertTasks(sql, rows).then(() => 'stored', (e: { code?: string }) => e.code);
    // 40,000 overflows smallint: sent whole (one row), and per row (two rows).
    const cases = [[row(1, { priority: 40_000 })], [row(1), row(2, { priority: 40_000 })]];
    for (const rows of cases) {
      const keyed = rows.map((r, i) => ({ ...r, id: uuidv7(), idempotencyKey: `fn-bad-${rows.length}-${i}` }));
      expect(await codeOf(rows)).toBe('22003');
      expect(await codeOf(keyed)).toBe('22003');
      const [stored] = await sql`SELECT count(*)::int AS n FROM tasks WHERE id = ANY(${[...rows, ...keyed].map((r) => r.id)}::uuid[])`;
      expect(Number(stored?.n)).toBe(0);
    }
  });
});
