import type { Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';

export interface Periodic {
  start(): void;
  stop(): Promise<void>;
}

/**
 * Runs `runOnce` every `intervalMs` (±20 % jitter so processes started together spread out),
 * only in the process that wins `pg_try_advisory_xact_lock(lockKey)` for that round: with
 * many processes, one does the work and the others skip it.
 */
export function createPeriodic(p: {
  name: string;
  sql: Sql;
  lockKey: number;
  intervalMs: number;
  log: Logger;
  runOnce: () => Promise<unknown>;
}): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let stopped = false;

  const round = async (): Promise<void> => {
    try {
      await p.sql.begin(async (tx) => {
        const [row] = await tx`SELECT pg_try_advisory_xact_lock(${p.lockKey}) AS locked`;
        if (!row?.locked) return;
        const result = await p.runOnce();
        p.log.debug({ service: p.name, result }, 'maintenance round');
      });
    } catch (error) {
      p.log.warn({ err: error, service: p.name }, 'maintenance round failed');
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
    start: schedule,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
