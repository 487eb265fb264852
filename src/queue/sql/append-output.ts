import type { Executor } from '../../db/client.js';

/** Output of one running attempt to store: chunks in the order the handler wrote them. */
export interface OutputAppend {
  id: string;
  /** The attempt writing (the task's `attempts` when claimed): a stale attempt's output is dropped. */
  attempt: number;
  /** Each chunk already JSON-encoded (and size-checked) by the worker. */
  chunks: string[];
  /** After these chunks, append the marker `{"truncated":true}`: the task reached MAX_OUTPUT_BYTES. */
  truncated: boolean;
  /**
   * The task's output bytes before these chunks, as the writing attempt counts them. Given, the
   * append is stored only when the row still says so, and a row that already says what the append
   * makes it (`outputBytesAfter`) counts as stored: a retry of a statement that committed but whose
   * answer was lost (the connection cut) appends nothing twice (drizzle/0038). Omitted: appended
   * whatever the count.
   */
  bytesBefore?: number;
}

/** The chunk that ends a task's output when it reached its cap. */
export const TRUNCATED_MARKER = '{"truncated":true}';

/**
 * Appends output chunks of running attempts of one worker, the whole batch in one statement:
 * each task's version moves up by its number of chunks, and each chunk becomes an OUTPUT event
 * with its own version (in the order written), so a reader of the log gets every chunk once, in
 * order, with every other event of the task. Guarded like completeTasks (RUNNING, this worker's
 * lock, this attempt). The notification carries the `:O` flag: subscribers of the task's state
 * (taskStatusChanged) have nothing new to read. Walks the primary keys of tasks and task_events
 * (taskwire_append_output's body: tasks_pkey for the update, with or without statistics). The
 * rows are locked in id order whatever the order of `appends` (drizzle/0031_output_lock_order.sql:
 * the batch is sorted by task id first), as the heartbeat and completions lock them.
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
      const p = a.bytesBefore ?? null;
      return `{"i":"${a.id}","a":${a.attempt},"b":${chunkBytes(a)},"t":${a.truncated},"p":${p},"c":[${chunks.join(',')}]}`;
    })
    .join(',')}]`;
  // taskwire_append_output (drizzle/0021_output_function.sql, as of 0031) is the statement this function sent
  // before, as a SQL function whose plan is cached: planned per call, as the pool plans every
  // statement (force_custom_plan), it cost ~0.5 ms of planning per output statement.
  const [row] = await exec`
    SELECT recorded FROM taskwire_append_output(${workerId}::text, ${input}::jsonb, ${capBytes}::int)`;
  const recorded = row?.recorded as string | null | undefined;
  return recorded ? recorded.split(',') : [];
}

/** The task's output bytes once `a` is stored on `before`, as taskwire_append_output counts them (the marker is not counted; it raises the count to the cap). */
export function outputBytesAfter(a: OutputAppend, before: number, capBytes: number): number {
  const after = before + chunkBytes(a);
  return a.truncated ? Math.max(after, capBytes) : after;
}

function chunkBytes(a: OutputAppend): number {
  return a.chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
}

/**
 * One entry per attempt, chunks kept in order (the first's bytesBefore): an UPDATE … FROM applies only one input row per
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
