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
  const stopping = new AbortController();

  const round = async (): Promise<void> => {
    let conn: ReservedSql | undefined;
    try {
      conn = await reserveConnection(p.sql, stopping.signal);
      const [row] = await conn`SELECT pg_try_advisory_lock(${p.lockKey}) AS locked`;
      if (!row?.locked) return;
      try {
        const result = await p.runOnce(conn);
        p.log.debug({ service: p.name, result }, 'maintenance round');
      } finally {
        await conn`SELECT pg_advisory_unlock(${p.lockKey})`;
      }
    } catch (error) {
      if (!stopping.signal.aborted) p.log.warn({ err: error, service: p.name }, 'maintenance round failed');
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
      // A round still waiting for its connection gives up at once; one doing its work finishes it.
      stopping.abort();
      await current;
    },
  };
}

/** How long a round waits for a connection of its own before skipping to the next round, in ms. */
const RESERVE_TIMEOUT_MS = 10_000;

/**
 * `sql.reserve()`, bounded. postgres.js 3.4.9 can strand a queued reserve() for good when the
 * database closes the connection it waits for (porsager/postgres#1195): after a PostgreSQL
 * restart the round never ended, no later round ran, and stop() (so the process's graceful
 * shutdown) hung on it (test/reliability/database-restart.test.ts). The wait is now cut off
 * by a timeout or by stop(); a connection that still arrives after that goes straight back.
 */
async function reserveConnection(sql: Sql, signal: AbortSignal): Promise<ReservedSql> {
  signal.throwIfAborted();
  const reserving = sql.reserve();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no database connection within ${RESERVE_TIMEOUT_MS} ms`)), RESERVE_TIMEOUT_MS);
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([reserving, gaveUp]);
  } catch (error) {
    void reserving.then(
      (late) => late.release(),
      () => undefined,
    );
    throw error;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
