import type { Executor } from '../../db/client.js';
import { wakeQueuesSql } from '../due-notice.js';
import { eventCtesSql, notificationCountSql } from '../events.js';
import { toTask, type Backoff, type Task } from '../task.js';

/** The column default of tasks.tenant (src/db/schema.ts): the tenant of every task while auth is off. */
export const DEFAULT_TENANT = 'default';

/** A validated row to insert; JSON columns already encoded. */
export interface NewTaskRow {
  id: string;
  name: string;
  queue: string;
  priority: number;
  args: string;
  kwargs: string;
  maxAttempts: number;
  runAfter: string | null;
  idempotencyKey: string | null;
  timeoutMs: number | null;
  resultTtlMs: number | null;
  backoff: Backoff | null;
  /** Whose task it is (column default 'default': left out of the input row then). */
  tenant: string;
  /** The principal that enqueued it (null: an in-process app, or auth off). */
  createdBy: string | null;
  /** The task's concurrency key (docs/flow-control.md). */
  concurrencyKey: string | null;
}

/** What the database decided about an insert; everything else of a new task is its input. */
export interface InsertOutcome {
  /** The transaction's `now()`: every inserted task's `enqueuedAt`, and its `runAfter` when none was given. */
  enqueuedAt: Date;
  /** Ids of the inserted rows that carry an idempotency key (the other keyed rows found their key taken). */
  insertedWithKey: ReadonlySet<string>;
}

/**
 * What to do with a row whose idempotency key is taken: `skip` it (the caller reads the
 * existing task), or `fail` the whole statement, with SQLSTATE `TW409`
 * (KEY_CONFLICT_SQLSTATE), when that task has another name, so that nothing is stored.
 */
export type KeyConflicts = 'skip' | 'fail';

/** Raised by taskwire_check_idempotency_key (drizzle/0002_idempotency_conflict_check.sql). */
export const KEY_CONFLICT_SQLSTATE = 'TW409';

const ON_CONFLICT: Record<KeyConflicts, string> = {
  skip: 'ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING',
  // Updates nothing (the function answers false or raises), but unlike DO NOTHING it sees a
  // key taken by a transaction that commits meanwhile; it locks that row until we commit.
  fail: `ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
         WHERE taskwire_check_idempotency_key(EXCLUDED.idempotency_key, tasks.name, EXCLUDED.name)`,
};

/**
 * Inserts tasks in one statement and announces them: an event per task (up to 100 per
 * NOTIFY) and one wake-up per queue, or two when some of its tasks are due later (wakeQueuesSql).
 * 20,000 tasks are one round trip and one plan.
 *
 * The rows travel by column (`encodeColumns`): the ids as one uuid[], each other column as a
 * single value when every row has the same one (a bulk enqueue's name, queue, tenant, options),
 * else as a JSON array read by row number. One jsonb array of objects with a key per field, as
 * before, cost PostgreSQL ~8× more to take in (jsonb_in at Bind, then jsonb_to_recordset's
 * lookups: about half of a bulk enqueue of 20,000; docs/decisions.md "Bulk enqueue").
 *
 * A row without an idempotency key is always inserted (or the statement fails), so without
 * keys the statement is a plain INSERT, sent as a call of taskwire_enqueue, whose plan is cached
 * (`insertFunction`). With keys, a row whose key exists in its tenant is not
 * inserted (ON CONFLICT on the partial unique index tasks_idempotency_key_idx over (tenant,
 * idempotency_key), whose predicate the conflict target repeats so that PostgreSQL infers it;
 * see `KeyConflicts`); the caller reads the existing task. Another tenant's key is no conflict:
 * keys are unique per tenant. Rows must not repeat a (tenant, key) (the caller folds repeats:
 * which one won would be up to the plan, and DO UPDATE refuses to meet a row twice).
 *
 * One row comes back however many went in: a new task's other columns are the table's
 * defaults (src/db/schema.ts), built by `newTask` (returning 20,000 rows cost more than the
 * INSERT itself).
 */
const EVENT_CTES = eventCtesSql({ type: `'ENQUEUED'` });
const WOKEN = wakeQueuesSql('changed', 'now()');
const NOTIFICATION_COUNT = notificationCountSql(['woken']);

export async function insertTasks(exec: Executor, rows: readonly NewTaskRow[], keyConflicts: KeyConflicts = 'skip'): Promise<InsertOutcome> {
  if (rows.length === 0) return { enqueuedAt: new Date(), insertedWithKey: new Set() };
  const withKeys = rows.some((r) => r.idempotencyKey !== null);
  const c = encodeColumns(rows);
  const row = withKeys ? await insertStatement(exec, c, keyConflicts) : await insertFunction(exec, c);
  const insertedWithKey = new Set(row.insertedWithKey ? row.insertedWithKey.split(',') : []);
  const keyless = rows.reduce((n, r) => n + (r.idempotencyKey === null ? 1 : 0), 0);
  if (Number(row.inserted) !== keyless + insertedWithKey.size) {
    throw new Error(`insertTasks: ${row.inserted} rows inserted, expected ${keyless + insertedWithKey.size}`);
  }
  return { enqueuedAt: toDate(row.enqueuedAt), insertedWithKey };
}

interface InsertResult {
  enqueuedAt: Date | string;
  inserted: number | string;
  /** Ids of the inserted rows that carry a key, comma-separated (null or absent: none). */
  insertedWithKey?: string | null;
}

/**
 * Rows without keys (every single enqueue of the batcher, most bulk enqueues): the statement
 * below without ON CONFLICT, as taskwire_enqueue (drizzle/0019_enqueue_function.sql), whose plan
 * is cached. The pool plans every statement afresh (force_custom_plan, src/db/client.ts): the
 * statement took ~0.18 ms to plan per single enqueue, twice as long as it took to run.
 */
async function insertFunction(exec: Executor, c: Columns): Promise<InsertResult> {
  const [result] = await exec`
    SELECT * FROM taskwire_enqueue(${c.ids}::uuid[],
      ${c.name.each}::jsonb, ${c.name.all}::text,
      ${c.queue.each}::jsonb, ${c.queue.all}::text,
      ${c.priority.each}::jsonb, ${c.priority.all}::smallint,
      ${c.args.each}::jsonb, ${c.args.all}::jsonb,
      ${c.kwargs.each}::jsonb, ${c.kwargs.all}::jsonb,
      ${c.maxAttempts.each}::jsonb, ${c.maxAttempts.all}::int,
      ${c.runAfter.each}::jsonb, ${c.runAfter.all}::timestamptz,
      ${c.timeoutMs.each}::jsonb, ${c.timeoutMs.all}::int,
      ${c.resultTtlMs.each}::jsonb, ${c.resultTtlMs.all}::bigint,
      ${c.backoff.each}::jsonb, ${c.backoff.all}::jsonb,
      ${c.tenant.each}::jsonb, ${c.tenant.all}::text,
      ${c.createdBy.each}::jsonb, ${c.createdBy.all}::text,
      ${c.concurrencyKey.each}::jsonb, ${c.concurrencyKey.all}::text)`;
  return result as InsertResult;
}

/** Rows with keys: one statement, its ON CONFLICT by `keyConflicts`. */
async function insertStatement(exec: Executor, c: Columns, keyConflicts: KeyConflicts): Promise<InsertResult> {
  // `o` is the row number (1-based); a column sent whole is NULL here and its value is the single one.
  const [result] = await exec`
    WITH input AS (
      SELECT u.i, (u.o - 1)::int AS j FROM unnest(${c.ids}::uuid[]) WITH ORDINALITY AS u(i, o)
    ),
    changed AS (
      INSERT INTO tasks (id, name, queue, priority, args, kwargs, max_attempts, run_after,
                         idempotency_key, timeout_ms, result_ttl_ms, backoff, tenant, created_by, concurrency_key)
      SELECT i,
             coalesce(${c.name.each}::jsonb ->> j, ${c.name.all}::text),
             coalesce(${c.queue.each}::jsonb ->> j, ${c.queue.all}::text),
             coalesce((${c.priority.each}::jsonb ->> j)::smallint, ${c.priority.all}::smallint),
             coalesce(${c.args.each}::jsonb -> j, ${c.args.all}::jsonb),
             coalesce(${c.kwargs.each}::jsonb -> j, ${c.kwargs.all}::jsonb),
             coalesce((${c.maxAttempts.each}::jsonb ->> j)::int, ${c.maxAttempts.all}::int),
             coalesce((${c.runAfter.each}::jsonb ->> j)::timestamptz, ${c.runAfter.all}::timestamptz, now()),
             coalesce(${c.idempotencyKey.each}::jsonb ->> j, ${c.idempotencyKey.all}::text),
             coalesce((${c.timeoutMs.each}::jsonb ->> j)::int, ${c.timeoutMs.all}::int),
             coalesce((${c.resultTtlMs.each}::jsonb ->> j)::bigint, ${c.resultTtlMs.all}::bigint),
             nullif(coalesce(${c.backoff.each}::jsonb -> j, ${c.backoff.all}::jsonb), 'null'::jsonb),
             coalesce(${c.tenant.each}::jsonb ->> j, ${c.tenant.all}::text),
             coalesce(${c.createdBy.each}::jsonb ->> j, ${c.createdBy.all}::text),
             coalesce(${c.concurrencyKey.each}::jsonb ->> j, ${c.concurrencyKey.all}::text)
      FROM input
      ${exec.unsafe(ON_CONFLICT[keyConflicts])}
      RETURNING id, queue, run_after, version, status, attempts, idempotency_key, last_event_tx
    ),
    ${exec.unsafe(WOKEN)},
    ${exec.unsafe(EVENT_CTES)}
    SELECT now() AS "enqueuedAt",
           (SELECT count(*) FROM changed) AS inserted,
           (SELECT string_agg(id::text, ',') FROM changed WHERE idempotency_key IS NOT NULL) AS "insertedWithKey",
           ${exec.unsafe(NOTIFICATION_COUNT)} AS notifications`;
  return result as InsertResult;
}

/**
 * The task `insertTasks` stored for `input`: its input, the columns the INSERT left at their
 * defaults (src/db/schema.ts: PENDING, version 1, …) and the transaction's `now()`. One
 * literal with every field, so that V8 gives all tasks one shape (a spread of defaults made
 * this 10× slower).
 */
export function newTask(input: NewTaskRow, enqueuedAt: Date): Task {
  return {
    id: input.id,
    name: input.name,
    queue: input.queue,
    priority: input.priority,
    args: input.args === '[]' ? [] : (JSON.parse(input.args) as Task['args']),
    kwargs: input.kwargs === '{}' ? {} : (JSON.parse(input.kwargs) as Task['kwargs']),
    status: 'PENDING',
    version: 1,
    attempts: 0,
    maxAttempts: input.maxAttempts,
    runAfter: input.runAfter === null ? enqueuedAt : new Date(input.runAfter),
    enqueuedAt,
    startedAt: null,
    finishedAt: null,
    lastAttemptedAt: null,
    workerIds: [],
    errors: [],
    returnValue: null,
    progress: null,
    lockedBy: null,
    leaseExpiresAt: null,
    idempotencyKey: input.idempotencyKey,
    expiresAt: null,
    cancelRequested: false,
    timeoutMs: input.timeoutMs,
    resultTtlMs: input.resultTtlMs,
    backoff: input.backoff,
    outputBytes: 0,
    tenant: input.tenant,
    createdBy: input.createdBy,
    concurrencyKey: input.concurrencyKey,
    workflowId: null,
    stepRef: null,
    dependsOn: [],
    dependents: [],
    waitingParents: null,
    onDependencyFailure: null,
    scheduledFor: null,
    scheduleId: null,
  };
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

/**
 * One column of the input: `all` (its text, or null) when every row has the same value, else
 * `each`, a JSON array with every row's value (JSON null for none) and `all` null. Parameters
 * are text: the statement casts them (jsonb, int, …).
 */
interface Column {
  all: string | null;
  each: string | null;
}

type Columns = { ids: string } & Record<
  | 'name'
  | 'queue'
  | 'priority'
  | 'args'
  | 'kwargs'
  | 'maxAttempts'
  | 'runAfter'
  | 'idempotencyKey'
  | 'timeoutMs'
  | 'resultTtlMs'
  | 'backoff'
  | 'tenant'
  | 'createdBy'
  | 'concurrencyKey',
  Column
>;

const json = JSON.stringify;
const text = (v: string | null): string => (v === null ? 'null' : json(v));
const num = (v: number | null): string => (v === null ? 'null' : String(v));

/**
 * The statement's parameters for `rows`. Ids are UUIDs made by `uuidv7` (no quoting needed in
 * an array literal); args and kwargs are JSON text already (prepareTask encoded and checked
 * them), so they are spliced in rather than parsed and stringified again.
 */
export function encodeColumns(rows: readonly NewTaskRow[]): Columns {
  let ids = '{';
  for (let i = 0; i < rows.length; i++) ids += (i === 0 ? '' : ',') + (rows[i] as NewTaskRow).id;
  return {
    ids: `${ids}}`,
    name: column(rows, (r) => r.name, json),
    queue: column(rows, (r) => r.queue, json),
    priority: column(rows, (r) => r.priority, String),
    args: column(rows, (r) => r.args, (v) => v),
    kwargs: column(rows, (r) => r.kwargs, (v) => v),
    maxAttempts: column(rows, (r) => r.maxAttempts, String),
    runAfter: column(rows, (r) => r.runAfter, text),
    idempotencyKey: column(rows, (r) => r.idempotencyKey, text),
    timeoutMs: column(rows, (r) => r.timeoutMs, num),
    resultTtlMs: column(rows, (r) => r.resultTtlMs, num),
    backoff: column(rows, (r) => (r.backoff === null ? null : json(r.backoff)), (v) => v ?? 'null'),
    tenant: column(rows, (r) => r.tenant, json),
    createdBy: column(rows, (r) => r.createdBy, text),
    concurrencyKey: column(rows, (r) => r.concurrencyKey, text),
  };
}

/** `get` of every row as a Column; `encode` makes one JSON array element of a value. */
function column<T extends string | number | null>(rows: readonly NewTaskRow[], get: (r: NewTaskRow) => T, encode: (v: T) => string): Column {
  const first = get(rows[0] as NewTaskRow);
  let i = 1;
  while (i < rows.length && get(rows[i] as NewTaskRow) === first) i++;
  if (i === rows.length) return { all: first === null ? null : String(first), each: null };
  let each = '[';
  for (let j = 0; j < rows.length; j++) each += (j === 0 ? '' : ',') + encode(get(rows[j] as NewTaskRow));
  return { all: null, each: `${each}]` };
}

/** An idempotency key within its tenant: keys are unique per tenant (tasks_idempotency_key_idx). */
export interface TenantKey {
  tenant: string;
  key: string;
}

/**
 * Existing tasks by idempotency key, each looked up within its own tenant only
 * (tasks_idempotency_key_idx on (tenant, idempotency_key), partial: the `IS NOT NULL` lets it match).
 */
export async function getTasksByIdempotencyKeys(exec: Executor, keys: readonly TenantKey[]): Promise<Task[]> {
  if (keys.length === 0) return [];
  const tenants = keys.map((k) => k.tenant);
  const values = keys.map((k) => k.key);
  const result = await exec`
    SELECT t.* FROM unnest(${tenants}::text[], ${values}::text[]) AS w(tenant, key)
    JOIN tasks t ON t.tenant = w.tenant AND t.idempotency_key = w.key
    WHERE t.idempotency_key IS NOT NULL`;
  return result.map((row) => toTask(row));
}
