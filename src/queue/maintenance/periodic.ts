import type { ReservedSql } from 'postgres';
import type { Executor, Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';

export interface Periodic {
  start(): void;
  stop(): Promise<void>;
}

/**
 * Runs `runOnce` every `intervalMs` (±20 % jitter so processes started together spread out),
 * only in the process that wins `pg_try_advisory_lock(lockKey)` for that round: with many
 * processes, one does the work and the others skip it.
 *
 * The lock and the work share one reserved connection, and the lock is a session lock
 * released after the work. (Holding a transaction-scoped lock open on one connection while
 * the work ran on others needed two connections at once: with DB_POOL_SIZE=1 the round
 * waited forever for the second, holding the only one.) The work's statements commit one
 * by one, so a large backlog is still cleared in small batches.
 */
export function createPeriodic(p: {
  name: string;
  sql: Sql;
  lockKey: number;
  intervalMs: number;
  log: Logger;
  /** One round's work, on the connection that holds the lock. */
  runOnce: (exec: Executor) => Promise<unknown>;
}): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let started = false;
  let stopped = false;

  const round = async (): Promise<void> => {
    let conn: ReservedSql | undefined;
    try {
      conn = await p.sql.reserve();
      const [row] = await conn`SELECT pg_try_advisory_lock(${p.lockKey}) AS locked`;
      if (!row?.locked) return;
      try {
        const result = await p.runOnce(conn);
        p.log.debug({ service: p.name, result }, 'maintenance round');
      } finally {
        await conn`SELECT pg_advisory_unlock(${p.lockKey})`;
      }
    } catch (error) {
      p.log.warn({ err: error, service: p.name }, 'maintenance round failed');
    } finally {
      conn?.release();
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    const wait = p.intervalMs * (0.8 + Math.random() * 0.4);
    timer = setTimeout(() => {
      current = round().finally(() => {
        current = undefined;
        schedule();
      });
    }, wait);
  };
  return {
    start() {
      if (started) return; // a second loop would only double the rounds
      started = true;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
