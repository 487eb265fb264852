import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import { readHeldQueues, type QueueControlNotice } from '../queue/queue-control/index.js';

/**
 * What a worker knows of the queues' flow control (docs/flow-control.md): which are paused and
 * which are limited. Only a hint for speed, never what makes a rule hold: the claim itself reads
 * the `queues` table (a paused queue is never claimed, a limited one only under its lock). The
 * worker uses it to hand back tasks of a queue paused after they were claimed, to not start
 * them, and to know which queues need the limited claim. Refreshed on every queue-control
 * notification and on every poll.
 */
export interface QueueGate {
  /** Reads the held queues again. Never throws (a failed read keeps what was known). */
  refresh(): Promise<void>;
  /** Takes in a notification at once, before the refresh it triggers lands. */
  apply(notice: QueueControlNotice): void;
  isPaused(queue: string): boolean;
  /** Whether the queue is claimed under a limit (its RUNNING count matters to the next claim). */
  isLimited(queue: string): boolean;
  /** Whether any queue is paused or limited (then the fast claim walks queue by queue: claimTasks' `someHeld`). */
  someHeld(): boolean;
  /** Limited queues this worker claims from, rotated on each call so that no queue always comes first. */
  limitedQueues(): string[];
}

export function createQueueGate(o: { sql: Sql; log: Logger; queues: readonly string[] }): QueueGate {
  let paused = new Set<string>();
  let limited: string[] = [];
  let turn = 0;
  // A refresh that started before a notification must not undo what the notification said.
  let generation = 0;
  const mine = (queue: string): boolean => o.queues.length === 0 || o.queues.includes(queue);

  return {
    async refresh() {
      const started = generation;
      try {
        const held = await readHeldQueues(o.sql);
        if (started !== generation) return;
        paused = new Set(held.paused);
        limited = held.limited.filter(mine);
      } catch (error) {
        o.log.debug({ err: error }, 'reading queue settings failed; keeping the last known');
      }
    },
    apply(notice) {
      generation += 1;
      if (notice.change === 'paused') {
        paused.add(notice.queue);
        limited = limited.filter((q) => q !== notice.queue);
      }
      if (notice.change === 'resumed') paused.delete(notice.queue);
    },
    // Asked twice per attempt; nothing held is the common case, and then no string is hashed or compared.
    isPaused: (queue) => paused.size > 0 && paused.has(queue),
    isLimited: (queue) => limited.length > 0 && limited.includes(queue),
    someHeld: () => paused.size > 0 || limited.length > 0,
    limitedQueues() {
      if (limited.length < 2) return [...limited];
      turn = (turn + 1) % limited.length;
      return [...limited.slice(turn), ...limited.slice(0, turn)];
    },
  };
}
