import type { Executor } from '../../db/client.js';
import { eventCtesSql } from '../events.js';

export interface Completion {
  id: string;
  /** The attempt (the task's `attempts` when claimed) that produced this result. */
  attempt: number;
  /** The return value, already encoded as JSON ('null' for none). */
  returnValue: string;
}

/**
 * Records successful attempts of one worker, a batch in one statement. Only tasks still
 * RUNNING under this worker's lock, in the same attempt, are touched: if the rescuer took a
 * task back, the late result is dropped rather than overwriting a newer attempt (the task is
 * recorded once) — even when the newer attempt is this worker's own.
 * Result retention starts now: expires_at = now + the task's TTL, else `defaultTtlMs`.
 * Returns the ids of the tasks it recorded.
 */
// changeTailSql's events and notifications, and one row back instead of one per task: the ids
// are all the caller reads, and a row per task cost both sides a message and a parse for nothing.
const TAIL = `${eventCtesSql({ type: `'SUCCEEDED'`, worker: 'ev_worker' })}
SELECT string_agg(id::text, ',') AS ids, (SELECT count(*) FROM notified) AS notifications FROM changed`;

export async function completeTasks(
  exec: Executor,
  workerId: string,
  completions: readonly Completion[],
  defaultTtlMs: number,
): Promise<string[]> {
  if (completions.length === 0) return [];
  // One jsonb object keyed by `id:attempt`, looked up per row (a binary search), rather than a
  // recordset joined to tasks: without statistics the planner nested-looped that join and
  // re-read the whole recordset per row, 74 ms for 500 completions (bench/README.md). The key
  // also carries the attempt guard. The values are JSON text already (encoded and size-checked
  // by the worker): spliced in as they are, not parsed only to be stringified again.
  const byAttempt = `{${completions.map((c) => `"${c.id}:${c.attempt}":${c.returnValue}`).join(',')}}`;
  const ids = completions.map((c) => c.id);
  // Walks the primary key for the ids.
  const result = await exec`
    WITH input AS (SELECT ${byAttempt}::jsonb AS values),
    changed AS (
      UPDATE tasks t SET
        status = 'SUCCEEDED',
        return_value = nullif(input.values -> (t.id::text || ':' || t.attempts), 'null'::jsonb),
        version = t.version + 1,
        finished_at = clock_timestamp(),
        locked_by = NULL,
        lease_expires_at = NULL,
        expires_at = clock_timestamp() + coalesce(t.result_ttl_ms, ${defaultTtlMs}) * interval '1 millisecond'
      FROM input
      WHERE t.id = ANY(${ids}::uuid[]) AND t.status = 'RUNNING' AND t.locked_by = ${workerId}
        AND input.values ? (t.id::text || ':' || t.attempts)
      -- Only what the events need: reading back every result (up to MAX_RESULT_BYTES each) would
      -- cost a parse per task for nothing.
      RETURNING t.id, t.version, t.status, t.attempts, ${workerId}::text AS ev_worker
    ),
    ${exec.unsafe(TAIL)}`;
  // Comma-joined rather than an array: uuids hold no comma, and a text[] parses only once the
  // pool has read the array types (src/db/client.ts).
  const recorded = result[0]?.ids as string | null | undefined;
  return recorded ? recorded.split(',') : [];
}
