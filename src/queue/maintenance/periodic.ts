import { settledOrRefused, type Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import type { Service } from '../../service.js';
import { createRoundListeners, type ObservableRounds, type Round, type RoundService } from './rounds.js';

/**
 * A maintenance loop as a Service: start() schedules the rounds, stop() ends them and waits for
 * the one under way (not while the database refuses connections: its statements then wait for one,
 * and a stop during an outage waited seconds for each service). Runs `runOnce` every `intervalMs`
 * (±20 % jitter so processes started together spread out).
 *
 * One process at a time does the work: each of the work's statements takes
 * `pg_try_advisory_xact_lock` of its service itself (see rescueTasks, deleteExpiredTasks)
 * and does nothing when another process holds it, so with many processes one does a batch
 * and the others find nothing. Every statement runs on the pool and commits on its own, so a
 * large backlog is still cleared in small batches.
 *
 * Not a session lock on a reserved connection, nor a transaction held across the round, as
 * before: with postgres.js 3.4.9 a reserved connection that the database closes strands
 * reserve() forever (#1195), and one of postgres.js's own transactions takes the process down
 * (its ROLLBACK is written from a timer to a closed socket, porsager/postgres#1208; our
 * transactions go through src/db/transaction.ts, which keeps it from being sent). A worker died
 * so, and another hung in stop(), when PostgreSQL restarted
 * (test/reliability/database-restart.test.ts). Pool connections survive it.
 */
export function createPeriodic<T>(p: {
  name: RoundService;
  intervalMs: number;
  log: Logger;
  /** The pool the rounds run on. */
  sql: Sql;
  /** One round's work. */
  runOnce: () => Promise<T>;
  /** What a round's result says for its listeners (ObservableRounds), beyond that it did not fail. */
  describe?: (result: T) => Omit<Round, 'service' | 'ok'>;
}): Service & ObservableRounds {
  const rounds = createRoundListeners(p.log);
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let started = false;
  let stopped = false;

  const round = async (): Promise<void> => {
    try {
      const result = await p.runOnce();
      // A count, not what the round returned: the rescuer's is whole task rows (arguments,
      // keyword arguments and all), a line of megabytes at debug level, secrets in it.
      p.log.debug({ service: p.name, count: Array.isArray(result) ? result.length : result }, 'maintenance round');
      rounds.emit({ service: p.name, ok: true, ...p.describe?.(result) });
    } catch (error) {
      p.log.warn({ err: error, service: p.name }, 'maintenance round failed');
      rounds.emit({ service: p.name, ok: false });
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
    onRound: rounds.onRound,
    async start() {
      if (started) return; // a second loop would only double the rounds
      started = true;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      if (current) await settledOrRefused(current, p.sql);
    },
  };
}
