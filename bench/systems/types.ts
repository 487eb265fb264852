/**
 * What the harness asks of each queue system, in its own API. Every job carries a
 * sequence number (`seq`) as its payload; the handler is a no-op that reports
 * (id, seq) so the scenario can count executions by id and time them.
 */
export interface QueueSystem {
  /** Adds one job through the system's normal single-enqueue API; resolves with its id. */
  enqueue(seq: number): Promise<string>;
  /** Adds all jobs in one call of the system's bulk API; resolves with how many were added. */
  enqueueMany(seqs: readonly number[]): Promise<number>;
  /** Starts a worker with concurrency 10 whose no-op handler calls `onRun`. */
  startWorker(onRun: (id: string, seq: number) => void): Promise<void>;
  stopWorker(): Promise<void>;
  /** Jobs in the database not yet recorded as finished (read on a separate connection). */
  unfinished(): Promise<number>;
  /**
   * Calls `onFinished(id)` when a job's completion commits, seen by a LISTEN on a separate
   * connection: taskwire's own event channel; for the peers a trigger added for the run.
   */
  watchFinished(onFinished: (id: string) => void): Promise<void>;
  /** Systems with a durable event log (taskwire): its size in bytes (table, indexes, TOAST) and rows. */
  eventLogSize?(): Promise<{ bytes: number; events: number }>;
  close(): Promise<void>;
}

/** Concurrency of every worker in the benchmark. */
export const CONCURRENCY = 10;
