import type { Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import type { Service } from '../../service.js';
import { deleteExpiredTasks } from '../sql/delete-expired-tasks.js';
import { createPeriodic } from './periodic.js';

export interface CleanerOptions {
  sql: Sql;
  log: Logger;
  /** How often to look, in ms (default 60,000). */
  intervalMs?: number;
  /** Rows per DELETE (default 1,000). */
  batchSize?: number;
}

export interface Cleaner extends Service {
  /** Deletes every finished task past its `expiresAt`; `now` replaces the clock in tests. Returns how many. */
  runOnce(now?: Date): Promise<number>;
}

/** Result retention: finished tasks are kept until `expiresAt`, then deleted in batches. */
export function createCleaner(o: CleanerOptions): Cleaner {
  const batchSize = o.batchSize ?? 1000;
  const clean = async (now: Date | null, lockKey: number | null): Promise<number> => {
    let deleted = 0;
    for (;;) {
      const count = await deleteExpiredTasks(o.sql, { now, limit: batchSize, lockKey });
      deleted += count;
      if (count < batchSize) break;
    }
    if (deleted > 0) o.log.info({ deleted }, 'deleted expired tasks');
    return deleted;
  };
  const periodic = createPeriodic({
    name: 'cleaner',
    intervalMs: o.intervalMs ?? 60_000,
    log: o.log,
    // Any constant, the same in every taskwire process: one of them deletes at a time.
    runOnce: () => clean(null, 0x7a5c_1e03),
  });
  return { ...periodic, runOnce: (now) => clean(now ?? null, null) };
}
