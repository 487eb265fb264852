import type { Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import type { Service } from '../../service.js';
import { rescueTasks } from '../sql/rescue-tasks.js';
import type { Backoff, Task } from '../task.js';
import { createPeriodic } from './periodic.js';

export interface RescuerOptions {
  sql: Sql;
  log: Logger;
  /** Default retention for tasks it finishes, in ms. */
  resultTtlMs: number;
  /** How often to look, in ms (default 15,000). With 30 s leases a dead worker's task is back within ~45 s. */
  intervalMs?: number;
  /** Most tasks per statement (default 1,000). */
  batchSize?: number;
  /** The backoff of a task's definition, for tasks enqueued without their own (as a failed attempt's retry uses). */
  definitionBackoff?: (name: string) => Partial<Backoff> | undefined;
  /**
   * The workers' lease (LEASE_MS): after a restart of the database, the periodic pass rescues nothing
   * until it has been up this long, so that live workers renew first (rescueTasks' restartGraceMs).
   */
  leaseMs?: number;
}

export interface Rescuer extends Service {
  /**
   * One pass, as the periodic one but without its wait after a database restart; `now` replaces the
   * clock in tests. Returns the tasks it rescued.
   */
  runOnce(now?: Date): Promise<Task[]>;
}

/** Takes back running tasks whose worker stopped renewing the lease (see rescueTasks). */
export function createRescuer(o: RescuerOptions): Rescuer {
  const batchSize = o.batchSize ?? 1000;
  const rescue = async (now: Date | null, lockKey: number | null, restartGraceMs: number | null): Promise<Task[]> => {
    const rescued: Task[] = [];
    for (;;) {
      const batch = await rescueTasks(o.sql, { now, limit: batchSize, defaultTtlMs: o.resultTtlMs, lockKey, definitionBackoff: o.definitionBackoff, restartGraceMs });
      rescued.push(...batch);
      if (batch.length < batchSize) break;
    }
    if (rescued.length > 0) {
      o.log.warn({ count: rescued.length, ids: rescued.slice(0, 20).map((t) => t.id) }, 'rescued tasks of lost workers');
    }
    return rescued;
  };
  const periodic = createPeriodic({
    name: 'rescuer',
    intervalMs: o.intervalMs ?? 15_000,
    log: o.log,
    // Any constant, the same in every taskwire process: one of them rescues at a time.
    runOnce: () => rescue(null, 0x7a5c_1e02, o.leaseMs ?? null),
  });
  return { ...periodic, runOnce: (now) => rescue(now ?? null, null, null) };
}
