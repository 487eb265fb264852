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
  const input = JSON.stringify(
    rows.map((r) => ({
      id: r.id,
      name: r.name,
      queue: r.queue,
      priority: r.priority,
      args: JSON.parse(r.args) as unknown,
      kwargs: JSON.parse(r.kwargs) as unknown,
      max_attempts: r.maxAttempts,
      run_after: r.runAfter,
      idempotency_key: r.idempotencyKey,
      timeout_ms: r.timeoutMs,
      result_ttl_ms: r.resultTtlMs,
      backoff: r.backoff,
    })),
  );
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
      RETURNING *
    ),
    woken AS (
      SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM (SELECT DISTINCT queue FROM changed) q
    ),
    ${exec.unsafe(notifyEventsSql(['woken']))}`;
  return result.map((row) => toTask(row));
}

/** Existing tasks by idempotency key (tasks_idempotency_key_idx). */
export async function getTasksByIdempotencyKeys(exec: Executor, keys: readonly string[]): Promise<Task[]> {
  if (keys.length === 0) return [];
  const result = await exec`SELECT * FROM tasks WHERE idempotency_key = ANY(${keys as string[]}::text[])`;
  return result.map((row) => toTask(row));
}
