import type { Executor } from '../../db/client.js';
import { JOBS_CHANNEL, notifyEventsSql } from '../events.js';
import { toTask, type Backoff, type Task } from '../task.js';

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
}

/**
 * Inserts tasks in one statement and announces them: an event per task and one wake-up
 * per queue (PostgreSQL folds identical payloads of one transaction). Rows go in as one
 * jsonb parameter, so 20,000 tasks are one round trip and one plan.
 * A task whose idempotency key exists is skipped; the caller reads the existing one.
 * Returns the inserted tasks (not in input order).
 */
export async function insertTasks(exec: Executor, rows: readonly NewTaskRow[]): Promise<Task[]> {
  if (rows.length === 0) return [];
  // args and kwargs are JSON text already (prepareTask encoded and checked them): they are
  // spliced in as they are rather than parsed again only to be stringified (the bulk path's
  // main Node-side cost at 20,000 rows).
  const input = `[${rows.map(encodeRow).join(',')}]`;
  const result = await exec`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS x(
        id uuid, name text, queue text, priority smallint, args jsonb, kwargs jsonb,
        max_attempts int, run_after timestamptz, idempotency_key text,
        timeout_ms int, result_ttl_ms bigint, backoff jsonb)
    ),
    changed AS (
      INSERT INTO tasks (id, name, queue, priority, args, kwargs, max_attempts, run_after,
                         idempotency_key, timeout_ms, result_ttl_ms, backoff)
      SELECT id, name, queue, priority, args, kwargs, max_attempts, coalesce(run_after, now()),
             idempotency_key, timeout_ms, result_ttl_ms, backoff
      FROM input
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id, queue, version, status, run_after AS "runAfter", enqueued_at AS "enqueuedAt"
    ),
    woken AS (
      SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM (SELECT DISTINCT queue FROM changed) q
    ),
    ${exec.unsafe(notifyEventsSql(['woken']))}`;
  // Only what the database decided comes back (RETURNING * of 20,000 rows cost a fifth of the
  // statement); the rest of each Task is the input it was inserted from.
  const byId = new Map(rows.map((r) => [r.id, r]));
  return result.map((row) => newTask(byId.get(row.id as string) as NewTaskRow, row));
}

/**
 * A freshly inserted task: its input, the columns the INSERT left at their defaults
 * (src/db/schema.ts), and what the database decided. One literal with every field, so
 * that V8 gives all tasks one shape (a spread of defaults made this 10× slower).
 */
function newTask(input: NewTaskRow, row: Record<string, unknown>): Task {
  return {
    id: input.id,
    name: input.name,
    queue: input.queue,
    priority: input.priority,
    args: JSON.parse(input.args) as Task['args'],
    kwargs: JSON.parse(input.kwargs) as Task['kwargs'],
    status: row.status as Task['status'],
    version: row.version as number,
    attempts: 0,
    maxAttempts: input.maxAttempts,
    runAfter: toDate(row.runAfter as Date | string),
    enqueuedAt: toDate(row.enqueuedAt as Date | string),
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
  };
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

const json = JSON.stringify;

function encodeRow(r: NewTaskRow): string {
  return (
    `{"id":${json(r.id)},"name":${json(r.name)},"queue":${json(r.queue)},"priority":${json(r.priority)},` +
    `"args":${r.args},"kwargs":${r.kwargs},"max_attempts":${json(r.maxAttempts)},"run_after":${json(r.runAfter)},` +
    `"idempotency_key":${json(r.idempotencyKey)},"timeout_ms":${json(r.timeoutMs)},"result_ttl_ms":${json(r.resultTtlMs)},` +
    `"backoff":${json(r.backoff)}}`
  );
}

/** Existing tasks by idempotency key (tasks_idempotency_key_idx). */
export async function getTasksByIdempotencyKeys(exec: Executor, keys: readonly string[]): Promise<Task[]> {
  if (keys.length === 0) return [];
  const result = await exec`SELECT * FROM tasks WHERE idempotency_key = ANY(${keys as string[]}::text[])`;
  return result.map((row) => toTask(row));
}
