import type { Executor } from '../../db/client.js';
import { NOTIFY_EVENTS } from '../events.js';

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
export async function completeTasks(
  exec: Executor,
  workerId: string,
  completions: readonly Completion[],
  defaultTtlMs: number,
): Promise<string[]> {
  if (completions.length === 0) return [];
  // The return values are JSON text already (encoded and size-checked by the worker): spliced
  // in as they are, not parsed only to be stringified again, as insertTasks does with args.
  const input = `[${completions.map((c) => `{"id":"${c.id}","attempt":${c.attempt},"value":${c.returnValue}}`).join(',')}]`;
  const result = await exec`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS x(id uuid, attempt int, value jsonb)
    ),
    changed AS (
      UPDATE tasks t SET
        status = 'SUCCEEDED',
        return_value = CASE WHEN jsonb_typeof(input.value) = 'null' THEN NULL ELSE input.value END,
        version = t.version + 1,
        finished_at = clock_timestamp(),
        locked_by = NULL,
        lease_expires_at = NULL,
        expires_at = clock_timestamp() + coalesce(t.result_ttl_ms, ${defaultTtlMs}) * interval '1 millisecond'
      FROM input
      WHERE t.id = input.id AND t.status = 'RUNNING' AND t.locked_by = ${workerId} AND t.attempts = input.attempt
      -- Only what the events need: reading back every result (up to MAX_RESULT_BYTES each) would
      -- cost a parse per task for nothing.
      RETURNING t.id, t.version, t.status
    ),
    ${exec.unsafe(NOTIFY_EVENTS)}`;
  return result.map((row) => String(row.id));
}
