import type { Executor } from '../../db/client.js';
import { EVENTS_CHANNEL } from '../events.js';

/** Output of one running attempt to store: chunks in the order the handler wrote them. */
export interface OutputAppend {
  id: string;
  /** The attempt writing (the task's `attempts` when claimed): a stale attempt's output is dropped. */
  attempt: number;
  /** Each chunk already JSON-encoded (and size-checked) by the worker. */
  chunks: string[];
  /** After these chunks, append the marker `{"truncated":true}`: the task reached MAX_OUTPUT_BYTES. */
  truncated: boolean;
}

/** The chunk that ends a task's output when it reached its cap. */
export const TRUNCATED_MARKER = '{"truncated":true}';

/**
 * Appends output chunks of running attempts of one worker, the whole batch in one statement:
 * each task's version moves up by its number of chunks, and each chunk becomes an OUTPUT event
 * with its own version (in the order written), so a reader of the log gets every chunk once, in
 * order, with every other event of the task. Guarded like completeTasks (RUNNING, this worker's
 * lock, this attempt). The notification carries the `:O` flag: subscribers of the task's state
 * (taskStatusChanged) have nothing new to read. Walks the primary keys of tasks and task_events.
 * Returns the ids of the tasks whose output was stored.
 */
export async function appendOutput(
  exec: Executor,
  workerId: string,
  appends: readonly OutputAppend[],
  /** The cap (MAX_OUTPUT_BYTES): a truncated task's count is raised to it, so a later attempt writes nothing more. */
  capBytes = 0,
): Promise<string[]> {
  const merged = mergeByAttempt(appends);
  if (merged.length === 0) return [];
  // Chunks are JSON text already: spliced in as they are, not parsed only to be encoded again.
  const input = `[${merged
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
        output_bytes = CASE WHEN input.t THEN greatest(t.output_bytes + input.b, ${capBytes}::int) ELSE t.output_bytes + input.b END
      FROM input
      WHERE t.id = input.i AND t.status = 'RUNNING' AND t.locked_by = ${workerId} AND t.attempts = input.a
      RETURNING t.id, t.version, t.status, t.attempts, input.c AS chunks
    ),
    logged AS (
      INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, output)
      SELECT changed.id, changed.version - jsonb_array_length(changed.chunks) + e.ord::int, 'OUTPUT', changed.status,
             changed.attempts, ${workerId}, e.chunk
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

/**
 * One entry per attempt, chunks kept in order: an UPDATE … FROM applies only one input row per
 * task, so two appends of one task in a batch must become one.
 */
function mergeByAttempt(appends: readonly OutputAppend[]): OutputAppend[] {
  const byKey = new Map<string, OutputAppend>();
  for (const a of appends) {
    if (a.chunks.length === 0 && !a.truncated) continue;
    const key = `${a.id}:${a.attempt}`;
    const seen = byKey.get(key);
    if (!seen) byKey.set(key, { ...a, chunks: [...a.chunks] });
    else if (!seen.truncated) {
      seen.chunks.push(...a.chunks);
      seen.truncated = a.truncated;
    }
  }
  return [...byKey.values()];
}
