import { exponentialDelayMs } from '../exponential-delay.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import { claimTasks } from '../queue/sql/claim-tasks.js';
import type { Task } from '../queue/task.js';

export interface ClaimLoopOptions {
  sql: Sql;
  workerId: string;
  log: Logger;
  /** Queues to claim from; empty: all. */
  queues: readonly string[];
  /** Lease of each claimed task, in ms. */
  leaseMs: number;
  /** Look for work this often even without a wake-up, in ms (NOTIFY is a hint: it can be missed). */
  pollIntervalMs: number;
  /** How many tasks to claim now; 0: none (the claim policy over what the worker holds). */
  wanted(): number;
  /** Takes claimed tasks in (the runner queues and starts them). */
  accept(tasks: Task[]): void;
  /** Hands back tasks that a claim landed after stop() began. Never throws. */
  handBack(tasks: readonly Task[]): Promise<void>;
  /** A claim failed (the database is away); the loop backs off and the poll tries again. */
  claimFailed(error: unknown): void;
}

/** The worker's producer: claims batches while the claim policy wants more, when woken or polled. */
export interface ClaimLoop {
  /** Starts polling and looks for work at once. */
  start(): void;
  /** Claims now, or right after the claim under way: a wake-up is never lost, and never doubles a claim. Ignored before start() and after stop(). */
  lookForWork(): void;
  /** Whether the last claim got every task it asked for: then more may be waiting, and a freed slot should claim at once. */
  readonly lastClaimFilled: boolean;
  /** No more claims: cuts a back-off short and resolves once the claim under way has landed (its tasks accepted or handed back). */
  stop(): Promise<void>;
}

export function createClaimLoop(o: ClaimLoopOptions): ClaimLoop {
  let started = false;
  let stopped = false;
  let claiming: Promise<void> | undefined;
  let lookAgain = false;
  let lastClaimFilled = true;
  let failures = 0;
  let pollTimer: NodeJS.Timeout | undefined;
  // Aborted by stop(): cuts the back-off short, so it keeps neither stop() nor the process waiting.
  const stopController = new AbortController();

  function lookForWork(): void {
    if (stopped || !started) return;
    if (claiming) {
      lookAgain = true;
      return;
    }
    claiming = claimWhileWanted().finally(() => {
      claiming = undefined;
      // A wake-up that came after the loop's last look (a slot freed in between) would
      // otherwise wait for the next poll.
      if (lookAgain) lookForWork();
    });
  }

  async function claimWhileWanted(): Promise<void> {
    try {
      do {
        lookAgain = false;
        while (!stopped) {
          const want = o.wanted();
          if (want === 0) {
            lastClaimFilled = true;
            break;
          }
          const tasks = await claim(want);
          if (!tasks) break;
          if (stopped) {
            // stop() began during the claim: these never start, and go straight back.
            await o.handBack(tasks);
            break;
          }
          o.accept(tasks);
          lastClaimFilled = tasks.length === want;
          if (!lastClaimFilled) break;
        }
      } while (lookAgain && !stopped);
    } catch (error) {
      // Nothing above should throw; if something does, the next wake-up or poll tries again.
      o.log.error({ err: error }, 'claim loop failed');
    }
  }

  /** One claim; undefined when the database is away (after a capped back-off; the poll tries again). */
  async function claim(limit: number): Promise<Task[] | undefined> {
    try {
      const tasks = await claimTasks(o.sql, { workerId: o.workerId, limit, queues: o.queues, leaseMs: o.leaseMs });
      failures = 0;
      return tasks;
    } catch (error) {
      failures += 1;
      if (failures === 1 || failures % 10 === 0) o.log.warn({ err: error, failures }, 'claim failed; retrying');
      o.claimFailed(error);
      await delay(exponentialDelayMs(failures, { baseMs: 100, maxMs: 5000 }), undefined, { signal: stopController.signal }).catch(() => undefined);
      return undefined;
    }
  }

  return {
    start() {
      if (started || stopped) return;
      started = true;
      pollTimer = setInterval(lookForWork, o.pollIntervalMs);
      lookForWork();
    },
    lookForWork,
    get lastClaimFilled() {
      return lastClaimFilled;
    },
    async stop() {
      stopped = true;
      clearInterval(pollTimer);
      stopController.abort();
      await claiming;
    },
  };
}
