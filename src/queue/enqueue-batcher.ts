import type { Sql } from '../db/client.js';
import { storeTasks } from './enqueue.js';
import type { NewTaskRow } from './sql/insert-tasks.js';
import type { Task } from './task.js';

export interface EnqueueBatcherOptions {
  /** Most rows in one statement (default 500); more wait for the next one. */
  maxBatch?: number;
  /**
   * Statements in flight at once (default 2): while one waits for its commit, the next can
   * already insert, and an enqueue that arrives then waits for one statement, not two.
   */
  maxInFlight?: number;
}

export interface EnqueueBatcher {
  /** Stores one validated row, together with whatever other rows are waiting; resolves with its own task. */
  enqueue(row: NewTaskRow): Promise<Task>;
}

interface Waiting {
  row: NewTaskRow;
  resolve(task: Task): void;
  reject(error: unknown): void;
}

/**
 * Group commit for single enqueues. Every enqueue is a durable commit, and a transaction
 * that sent NOTIFY holds a database-wide lock from its pre-commit until its WAL is flushed
 * (bench/README.md), so concurrent enqueues, each in its own statement, queue up one flush
 * after another. Here, while statements are in flight (`maxInFlight`), the enqueues that
 * arrive wait and go together as the next statement: one flush for all of them. No timer: a lone enqueue is
 * sent on the next microtask (enqueues of the same tick share it), so its latency stays.
 *
 * Each caller gets its own task or its own error: validation happened before (so bad input
 * never reaches a batch), idempotency keys are settled per row (`storeTasks`), and when the
 * statement fails the batch is one transaction, so nothing was stored for anyone. A failure
 * that a row's data may have caused (SQLSTATE classes 22 and 23) is retried row by row, so
 * that it fails only the row that caused it.
 */
export function createEnqueueBatcher(sql: Sql, options: EnqueueBatcherOptions = {}): EnqueueBatcher {
  const maxBatch = options.maxBatch ?? 500;
  const maxInFlight = options.maxInFlight ?? 2;
  let waiting: Waiting[] = [];
  let inFlight = 0;
  let scheduled = false;

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(pump);
  }

  function pump(): void {
    scheduled = false;
    while (inFlight < maxInFlight && waiting.length > 0) {
      const batch = waiting.length <= maxBatch ? waiting : waiting.slice(0, maxBatch);
      waiting = waiting.length <= maxBatch ? [] : waiting.slice(maxBatch);
      inFlight += 1;
      void send(batch).finally(() => {
        inFlight -= 1;
        if (waiting.length > 0) schedule();
      });
    }
  }

  async function send(batch: readonly Waiting[]): Promise<void> {
    try {
      const outcomes = await storeTasks(
        sql,
        batch.map((w) => w.row),
      );
      batch.forEach((w, i) => {
        const outcome = outcomes[i] as Task | Error;
        if (outcome instanceof Error) w.reject(outcome);
        else w.resolve(outcome);
      });
    } catch (error) {
      if (batch.length > 1 && isDataError(error)) {
        for (const w of batch) await send([w]);
        return;
      }
      for (const w of batch) w.reject(error);
    }
  }

  return {
    enqueue(row) {
      return new Promise<Task>((resolve, reject) => {
        waiting.push({ row, resolve, reject });
        schedule();
      });
    },
  };
}

/** Data exceptions (22…) and integrity constraint violations (23…): errors a row's values can cause. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
