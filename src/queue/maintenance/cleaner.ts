import type { Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import type { Service } from '../../service.js';
import { deleteExpiredTasks, stampMissingExpiry } from '../sql/delete-expired-tasks.js';
import { createPeriodic } from './periodic.js';
import type { ObservableRounds } from './rounds.js';

export interface CleanerOptions {
  sql: Sql;
  log: Logger;
  /** How often to look, in ms (default 60,000). */
  intervalMs?: number;
  /** Rows per DELETE (default 1,000). */
  batchSize?: number;
  /**
   * RESULT_TTL_MS: the retention of a finished task without its own, for the tasks that ended
   * without an expiry (see stampMissingExpiry).
   */
  resultTtlMs: number;
}

export interface Cleaner extends Service, ObservableRounds {
  /**
   * Deletes every finished task past its `expiresAt`, after giving those that ended without one
   * theirs; `now` replaces the clock in tests. Returns how many it deleted.
   */
  runOnce(now?: Date): Promise<number>;
}

/** Result retention: finished tasks are kept until `expiresAt`, then deleted in batches. */
export function createCleaner(o: CleanerOptions): Cleaner {
  const batchSize = o.batchSize ?? 1000;
  const defaultTtlMs = o.resultTtlMs;
  const clean = async (now: Date | null, lockKey: number | null): Promise<number> => {
    // First the finished tasks that have no expiry yet (a few, found by a partial index): stamped
    // here, they are deleted below if their retention has already run out.
    const stamped = await inBatches(batchSize, () => stampMissingExpiry(o.sql, { defaultTtlMs, limit: batchSize, lockKey }));
    if (stamped > 0) o.log.info({ stamped }, 'gave finished tasks without an expiry their expiry');
    // Each batch from where the last one ended (see deleteExpiredTasks).
    let from: string | null = null;
    const deleted = await inBatches(batchSize, async () => {
      const batch = await deleteExpiredTasks(o.sql, { now, limit: batchSize, lockKey, from });
      from = batch.last ?? from;
      return batch.count;
    });
    if (deleted > 0) o.log.info({ deleted }, 'deleted expired tasks');
    return deleted;
  };
  const periodic = createPeriodic({
    name: 'cleaner',
    intervalMs: o.intervalMs ?? 60_000,
    log: o.log,
    sql: o.sql,
    // Any constant, the same in every taskwire process: one of them deletes at a time.
    runOnce: () => clean(null, 0x7a5c_1e03),
    describe: (deleted) => ({ deleted }),
  });
  return { ...periodic, runOnce: (now) => clean(now ?? null, null) };
}

/** Runs `batch` (which handles up to `batchSize` rows) until one handles fewer; how many in all. */
async function inBatches(batchSize: number, batch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const count = await batch();
    total += count;
    if (count < batchSize) return total;
  }
}
