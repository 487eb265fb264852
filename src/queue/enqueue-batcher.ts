import type { Sql } from '../db/client.js';
import { ConflictError } from '../errors.js';
import { storeTasks } from './enqueue.js';
import { createMicroBatcher } from './micro-batcher.js';
import type { NewTaskRow } from './sql/insert-tasks.js';
import type { Task } from './task.js';

export interface EnqueueBatcherOptions {
  /** Most rows in one statement (default 500); more wait for the next one. */
  maxBatch?: number;
  /**
   * Statements in flight at once (default 1): what arrives while one is in flight goes together
   * as the next one.
   */
  maxInFlight?: number;
}

export interface EnqueueBatcher {
  /** Stores one validated row, together with whatever other rows are waiting; resolves with its own task. */
  enqueue(row: NewTaskRow): Promise<Task>;
  /**
   * Whether `enqueueAll` takes these rows: 1 to GROUP_MAX of them, none with an idempotency key
   * (a key held by a task of another name fails a whole call, in a statement of its own:
   * enqueueTasks).
   */
  takes(rows: readonly NewTaskRow[]): boolean;
  /**
   * Stores one caller's validated rows, all or nothing, in the same statement as whatever else is
   * waiting; resolves with its tasks in the rows' order. Only rows it `takes`.
   */
  enqueueAll(rows: readonly NewTaskRow[]): Promise<Task[]>;
}

/**
 * The most rows of one `enqueueMany` that share a statement with others. Below it a call's own
 * statement is mostly its commit; above it the call is statement enough, and going alone it
 * neither waits for the statement in flight nor holds the next one's single enqueues behind its rows.
 */
export const GROUP_MAX = 100;

/**
 * Group commit for enqueues: single ones, and small `enqueueMany` calls. Every enqueue is a
 * durable commit, and a transaction that sent NOTIFY holds a database-wide lock from its
 * pre-commit until its WAL is flushed (bench/README.md), so concurrent enqueues, each in its own
 * statement, queue up one flush after another. Here the enqueues that arrive while statements
 * are in flight go together as the next statement (see createMicroBatcher): one WAL flush for
 * all of them. An item is a caller's group of rows (one row for `enqueue`).
 *
 * Each caller gets its own tasks or its own error: validation happened before (so bad input
 * never reaches a batch), idempotency keys are settled per row (`storeTasks`; only a lone row
 * has one), and when the statement fails the batch is one transaction, so nothing was stored
 * for anyone. A failure that a row's data may have caused (SQLSTATE classes 22 and 23) is
 * retried group by group, so that it fails only the call that caused it, and that call whole.
 */
export function createEnqueueBatcher(sql: Sql, options: EnqueueBatcherOptions = {}): EnqueueBatcher {
  const batcher = createMicroBatcher<readonly NewTaskRow[], Task[]>({
    // Rows, not calls: a statement of 500 rows whatever the callers.
    maxBatch: options.maxBatch ?? 500,
    countOf: (group) => group.length,
    // And BATCH_BYTES of arguments (src/queue/micro-batcher.ts): 500 rows of MAX_ARGS_BYTES would be hundreds of MB.
    sizeOf: (group) => {
      let bytes = 0;
      for (const row of group) bytes += row.args.length + row.kwargs.length;
      return bytes;
    },
    // One. A second statement in flight saved an enqueue little: NOTIFYing transactions commit
    // one after another (see above), so it still waited for the first one's flush, and it went
    // nearly alone. With one, each statement carries everything that arrived meanwhile: fewer
    // statements, plans and commits for the same enqueues. Measured (bench/tools/http-cost.ts,
    // 10 HTTP clients, A/B in one run): 0.40 → 0.31 commits per enqueueTask, server CPU 470 →
    // 390 µs each, 1,070 → 1,290 enqueueTask/s; single enqueue (c) unchanged (7.35× → 7.43×
    // graphile-worker, quick runs back to back).
    maxInFlight: options.maxInFlight ?? 1,
    flush: store,
  });

  async function store(groups: readonly (readonly NewTaskRow[])[]): Promise<readonly (Task[] | Error)[]> {
    try {
      const outcomes = await storeTasks(sql, groups.length === 1 ? (groups[0] as readonly NewTaskRow[]) : groups.flat());
      let at = 0;
      return groups.map((group) => {
        const own = outcomes.slice(at, (at += group.length));
        // A ConflictError: a lone row's key names a task of another name.
        const refused = own.find((o) => o instanceof ConflictError);
        return refused instanceof ConflictError ? refused : (own as Task[]);
      });
    } catch (error) {
      if (groups.length <= 1 || !isDataError(error)) throw error;
      const alone: (Task[] | Error)[] = [];
      for (const group of groups) alone.push(await store([group]).then((r) => r[0] as Task[] | Error, (e: unknown) => asError(e)));
      return alone;
    }
  }

  const takes = (rows: readonly NewTaskRow[]): boolean =>
    rows.length > 0 && rows.length <= GROUP_MAX && rows.every((row) => row.idempotencyKey === null);
  return {
    enqueue: async (row) => (await batcher.add([row]))[0] as Task,
    takes,
    enqueueAll(rows) {
      if (!takes(rows)) return Promise.reject(new Error(`enqueueAll takes 1 to ${GROUP_MAX} rows without idempotency keys, got ${rows.length}`));
      return batcher.add(rows);
    },
  };
}

/** Data exceptions (22…) and integrity constraint violations (23…): errors a row's values can cause. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
