import type { Executor } from '../../db/client.js';
import { workflowIdsOf } from './worker-batches.js';

export interface Completion {
  id: string;
  /** The attempt (the task's `attempts` when claimed) that produced this result. */
  attempt: number;
  /** The return value, already encoded as JSON ('null' for none). */
  returnValue: string;
  /**
   * The task's workflow (null: a plain task), as its claim read it (it never changes). Known for
   * every completion of a batch, it spares the statement reading them to lock their workflows
   * first (drizzle/0033); absent from any, the statement reads the batch's rows for them.
   */
  workflowId?: string | null;
}

/**
 * Records successful attempts of one worker, a batch in one statement. Only tasks still
 * RUNNING under this worker's lock, in the same attempt, are touched: if the rescuer took a
 * task back, the late result is dropped rather than overwriting a newer attempt (the task is
 * recorded once) — even when the newer attempt is this worker's own.
 * Result retention starts now: expires_at = now + the task's TTL, else `defaultTtlMs`.
 * Returns the ids of the tasks it recorded.
 */
export async function completeTasks(
  exec: Executor,
  workerId: string,
  completions: readonly Completion[],
  defaultTtlMs: number,
): Promise<string[]> {
  if (completions.length === 0) return [];
  // The results as one JSON array in the batch's order, each attempt beside its id: read once by
  // json_array_elements and stored as json (drizzle/0042), never parsed into jsonb (~0.5 ms of
  // PostgreSQL's CPU per 10 KB of result). The values are JSON text already (encoded and
  // size-checked by the worker): spliced in as they are, not parsed only to be stringified again.
  const results = `[${completions.map((c) => c.returnValue).join(',')}]`;
  const ids = `{${completions.map((c) => c.id).join(',')}}`;
  const attempts = `{${completions.map((c) => c.attempt).join(',')}}`;
  // The steps' workflows, locked before the steps (./worker-batches.ts).
  const workflowIds = workflowIdsOf(completions);
  // taskwire_complete (drizzle/0020_complete_function.sql, drizzle/0033, drizzle/0042) is the UPDATE by
  // tasks_pkey, its SUCCEEDED events and notifications (eventCtesSql's tail), as one function whose
  // plan is cached: the pool plans every statement afresh (force_custom_plan, src/db/client.ts), and
  // the statement took ~0.8 ms to plan per batch. The ids are uuids (no quoting in an array literal).
  const result = await exec`
    SELECT recorded FROM taskwire_complete(${workerId}::text, ${ids}::uuid[], ${attempts}::int[], ${results}::json, ${defaultTtlMs}::bigint, ${workflowIds}::uuid[])`;
  // Comma-joined rather than an array: uuids hold no comma, and a text[] parses only once the
  // pool has read the array types (src/db/client.ts).
  const recorded = result[0]?.recorded as string | null | undefined;
  return recorded ? recorded.split(',') : [];
}
