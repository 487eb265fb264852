import type { Sql } from '../db/client.js';
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
}

/**
 * Group commit for single enqueues. Every enqueue is a durable commit, and a transaction
 * that sent NOTIFY holds a database-wide lock from its pre-commit until its WAL is flushed
 * (bench/README.md), so concurrent enqueues, each in its own statement, queue up one flush
 * after another. Here the enqueues that arrive while statements are in flight go together as
 * the next statement (see createMicroBatcher): one WAL flush for all of them.
 *
 * Each caller gets its own task or its own error: validation happened before (so bad input
 * never reaches a batch), idempotency keys are settled per row (`storeTasks`), and when the
 * statement fails the batch is one transaction, so nothing was stored for anyone. A failure
 * that a row's data may have caused (SQLSTATE classes 22 and 23) is retried row by row, so
 * that it fails only the row that caused it.
 */
export function createEnqueueBatcher(sql: Sql, options: EnqueueBatcherOptions = {}): EnqueueBatcher {
  const batcher = createMicroBatcher<NewTaskRow, Task>({
    maxBatch: options.maxBatch ?? 500,
    // And BATCH_BYTES of arguments (src/queue/micro-batcher.ts): 500 rows of MAX_ARGS_BYTES would be hundreds of MB.
    sizeOf: (row) => row.args.length + row.kwargs.length,
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

  async function store(rows: readonly NewTaskRow[]): Promise<readonly (Task | Error)[]> {
    try {
      return await storeTasks(sql, rows);
    } catch (error) {
      if (rows.length <= 1 || !isDataError(error)) throw error;
      const one: (Task | Error)[] = [];
      for (const row of rows) one.push(await store([row]).then((r) => r[0] as Task | Error, (e: unknown) => asError(e)));
      return one;
    }
  }

  return { enqueue: (row) => batcher.add(row) };
}

/** Data exceptions (22…) and integrity constraint violations (23…): errors a row's values can cause. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
