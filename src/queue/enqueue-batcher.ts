import type { Sql } from '../db/client.js';
import { ConflictError } from '../errors.js';
import { storeTasks } from './enqueue.js';
import { createMicroBatcher, type MicroBatcher } from './micro-batcher.js';
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
   * enqueueTasks), GROUP_MAX_BYTES of arguments at most.
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
 * neither waits for the statement in flight nor holds the next one's calls behind its rows.
 */
export const GROUP_MAX = 100;

/**
 * The most argument text (args and kwargs, as JSON, counted in UTF-16 units as `sizeOf` counts:
 * an ASCII character is a byte, a CJK one 3 bytes) of one `enqueueMany` that shares a statement.
 * PostgreSQL reads arguments at ~55 µs a KB, one statement on one backend, so 16 KiB is
 * ~1 ms of statement, about a commit: a heavier call is mostly statement, gains little from sharing
 * one, and would hold the shared statement's other calls behind it while its own could run beside
 * them on another connection and core. Measured (10 producers, calls of 5): 2 KB arguments a task
 * gained from sharing (4,511 → 8,249 tasks/s), 10 KB ones lost (3,218 → 2,206), as did a small call
 * waiting behind other callers' 100 × 100 KB calls (a tester's: 1.3 s).
 */
export const GROUP_MAX_BYTES = 16 * 1024;

/**
 * Group commit for enqueues. Every enqueue is a durable commit, and a transaction that sent
 * NOTIFY holds a database-wide lock from its pre-commit until its WAL is flushed
 * (bench/README.md), so concurrent enqueues, each in its own statement, queue up one flush after
 * another. Here the enqueues that arrive while a statement is in flight go together as the next
 * statement (see createMicroBatcher): one WAL flush for all of them.
 *
 * Three lines, each with one statement in flight: single enqueues without a key, single enqueues
 * with one, and small `enqueueMany` calls (an item: the call's rows, never split). Apart, so that
 * none waits behind another: a single enqueue does not wait for 500 rows of other callers' calls,
 * and neither a call nor an enqueue without a key waits behind a keyed enqueue whose statement
 * waits for another transaction's uncommitted key — which may be the caller's own, awaiting this
 * enqueue (a deadlock PostgreSQL cannot see, ended only by `lock_timeout`). Only keyed enqueues
 * wait behind a keyed one (docs/decisions.md "Keyed enqueues have a line of their own").
 *
 * Each caller gets its own tasks or its own error: validation happened before (so bad input
 * never reaches a batch), idempotency keys are settled per row (`storeTasks`), and when the
 * statement fails the batch is one transaction, so nothing was stored for anyone. A failure that
 * the rows may have caused (a constraint, bad data, a trigger's refusal: isRowsFault) is retried
 * item by item, so that only the caller whose rows caused it fails, and a call whole.
 */
export function createEnqueueBatcher(sql: Sql, options: EnqueueBatcherOptions = {}): EnqueueBatcher {
  const maxBatch = options.maxBatch ?? 500;
  // One statement in flight on each line. A second one saved an enqueue little: NOTIFYing
  // transactions commit one after another (see above), so it still waited for the first one's
  // flush, and it went nearly alone. With one, each statement carries everything that arrived
  // meanwhile: fewer statements, plans and commits for the same enqueues. Measured
  // (bench/tools/http-cost.ts, 10 HTTP clients, A/B in one run): 0.40 → 0.31 commits per
  // enqueueTask, server CPU 470 → 390 µs each, 1,070 → 1,290 enqueueTask/s; single enqueue (c)
  // unchanged (7.35× → 7.43× graphile-worker, quick runs back to back).
  const maxInFlight = options.maxInFlight ?? 1;
  const singleLine = (): MicroBatcher<NewTaskRow, Task> =>
    createMicroBatcher<NewTaskRow, Task>({
      maxBatch,
      // And BATCH_BYTES of arguments (src/queue/micro-batcher.ts): 500 rows of MAX_ARGS_BYTES would be hundreds of MB.
      sizeOf: argumentBytes,
      maxInFlight,
      flush: async (rows) => (await storeGroups(rows.map((row) => [row]))).map((r) => (r instanceof Error ? r : (r[0] as Task))),
    });
  const singles = singleLine();
  const keyed = singleLine();
  const calls = createMicroBatcher<readonly NewTaskRow[], Task[]>({
    // Rows, not calls: a statement of `maxBatch` rows whatever the callers.
    maxBatch,
    countOf: (group) => group.length,
    sizeOf: groupBytes,
    maxInFlight,
    flush: storeGroups,
  });

  async function storeGroups(groups: readonly (readonly NewTaskRow[])[]): Promise<readonly (Task[] | Error)[]> {
    try {
      const outcomes = await storeTasks(sql, groups.length === 1 ? (groups[0] as readonly NewTaskRow[]) : groups.flat());
      let at = 0;
      return groups.map((group) => {
        const own = outcomes.slice(at, (at += group.length));
        // A ConflictError: a single enqueue's key names a task of another name.
        const refused = own.find((o) => o instanceof ConflictError);
        return refused instanceof ConflictError ? refused : (own as Task[]);
      });
    } catch (error) {
      if (groups.length <= 1 || !isRowsFault(error)) throw error;
      const alone: (Task[] | Error)[] = [];
      for (const group of groups) alone.push(await storeGroups([group]).then((r) => r[0] as Task[] | Error, (e: unknown) => asError(e)));
      return alone;
    }
  }

  const takes = (rows: readonly NewTaskRow[]): boolean =>
    rows.length > 0 && rows.length <= GROUP_MAX && rows.every((row) => row.idempotencyKey === null) && groupBytes(rows) <= GROUP_MAX_BYTES;
  return {
    enqueue: (row) => (row.idempotencyKey === null ? singles : keyed).add(row),
    takes,
    enqueueAll(rows) {
      if (!takes(rows)) {
        return Promise.reject(new Error(`enqueueAll takes 1 to ${GROUP_MAX} rows without idempotency keys and ${GROUP_MAX_BYTES} bytes of arguments at most`));
      }
      return calls.add(rows);
    },
  };
}

function argumentBytes(row: NewTaskRow): number {
  return row.args.length + row.kwargs.length;
}

function groupBytes(rows: readonly NewTaskRow[]): number {
  let bytes = 0;
  for (const row of rows) bytes += argumentBytes(row);
  return bytes;
}

/**
 * Whether a failed statement's rows may have caused its error, so that sending each caller's
 * rows alone fails only the one that did: a constraint, bad data, a trigger's RAISE, a limit. Not
 * what every caller's statement would meet alike, one after another: the connection (class 08, and
 * the client's own codes such as CONNECTION_CLOSED, which are no SQLSTATE), a read-only or broken
 * transaction (25: a failover to a standby), the schema or a privilege (42), a rolled-back
 * transaction (40), a lock not had in time (55P03: each statement would wait it out again), the
 * server's resources (53), the operator (57: a shutdown, a cancel) or the server itself (58, XX).
 */
export function isRowsFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  return code !== '55P03' && !['08', '25', '40', '42', '53', '57', '58', 'XX'].includes(code.slice(0, 2));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
