import type { ReservedSql, Sql } from 'postgres';
import { afterEach, expect } from 'vitest';
import type { Executor } from '../../src/db/client.js';
import { waitFor } from './wait.js';

/**
 * Replays two statements that contend for rows a third transaction holds: `hold` locks them on a
 * connection of its own, `first` starts and queues for a lock (or ends without waiting), then
 * `second` likewise, then the holder commits; both must end without error (a deadlock is 40P01).
 * The interleaving that deadlocked when two statements took shared rows in two orders
 * (docs/decisions.md "One lock order for task rows"; test/queue/lock-order.test.ts,
 * test/queue/workflow-lock-order.test.ts). Each actor is on its own backend; they are rolled back and
 * released after each test.
 */
export function useLockContention(sql: () => Sql): {
  contend(hold: (c: Executor) => Promise<unknown>, first: (c: Executor) => Promise<unknown>, second: (c: Executor) => Promise<unknown>): Promise<void>;
} {
  const reserved: ReservedSql[] = [];
  afterEach(async () => {
    for (const c of reserved.splice(0)) {
      await c`ROLLBACK`.catch(() => undefined);
      c.release();
    }
  });
  const connection = async (): Promise<ReservedSql> => {
    const c = await sql().reserve();
    reserved.push(c);
    return c;
  };
  /** Until every actor still running waits for a lock. */
  const queued = async (actors: { settled: boolean }[]): Promise<void> => {
    await waitFor(
      async () => {
        const [row] = await sql()`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        return Number(row?.n) >= actors.filter((a) => !a.settled).length;
      },
      { timeoutMs: 5000, intervalMs: 5, message: 'the actors waiting for a lock' },
    );
  };
  const actor = (run: Promise<unknown>): { run: Promise<unknown>; settled: boolean } => {
    const a = { run, settled: false };
    run.then(
      () => (a.settled = true),
      () => (a.settled = true),
    );
    return a;
  };
  return {
    async contend(hold, first, second) {
      const [holder, a, b] = [await connection(), await connection(), await connection()];
      await holder`BEGIN`;
      await hold(holder);
      const one = actor(first(a));
      await queued([one]);
      const two = actor(second(b));
      await queued([one, two]);
      await holder`COMMIT`;
      const outcomes = await Promise.allSettled([one.run, two.run]);
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : String((o.reason as { code?: string }).code ?? o.reason)))).toEqual(['ok', 'ok']);
    },
  };
}
