import type { Task } from '../queue/task.js';

/**
 * How long a worker leaves alone a task it handed back for having no handler. Long enough that a
 * worker which has the handler takes it first (its next poll, or at once: the hand-back wakes every
 * worker of the queue); short enough that a task nobody runs is looked at again now and then, and
 * the list stays small. Never past the task's UNKNOWN_TASK_GRACE_MS: then this worker claims it to
 * fail it with UnknownTask (no worker had its handler in ten minutes).
 */
export const PASSED_OVER_FOR_MS = 60_000;
/**
 * Most tasks a worker leaves alone at once: every claim of the worker carries the list
 * (taskwire_claim's passed_over, drizzle/0034). Past it, a hand-back waits UNKNOWN_TASK_SNOOZE_MS as
 * it did before the list (see unknownTask).
 */
export const MAX_PASSED_OVER = 1000;

/** The tasks this worker handed back for lacking their handler, not to be claimed again for a while. */
export interface PassedOver {
  /** Leaves `task` alone until `until` (performance.now() ms). False when the list is full of live entries. */
  add(task: Task, until: number): boolean;
  /** The ids to leave out of a claim now: one array, made again only after a change or an expiry. */
  ids(): readonly string[];
}

export function createPassedOver(max = MAX_PASSED_OVER, now: () => number = () => performance.now()): PassedOver {
  // Insertion order is expiry order for a fixed PASSED_OVER_FOR_MS; a shorter one (the grace ends
  // first) expires early and is swept by the full scan in prune().
  const until = new Map<string, number>();
  let cached: readonly string[] = [];
  let cachedUntil = Infinity;
  let stale = false;

  function prune(): void {
    const t = now();
    for (const [id, at] of until) if (at <= t) until.delete(id);
  }

  return {
    add(task, at) {
      if (until.size >= max) prune();
      if (until.size >= max && !until.has(task.id)) return false;
      until.delete(task.id);
      until.set(task.id, at);
      stale = true;
      return true;
    },
    ids() {
      if (stale || (cachedUntil !== Infinity && now() >= cachedUntil)) {
        prune();
        cached = until.size === 0 ? [] : [...until.keys()];
        cachedUntil = until.size === 0 ? Infinity : Math.min(...until.values());
        stale = false;
      }
      return cached;
    },
  };
}
