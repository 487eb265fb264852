import type { QueueStats } from '../queue/index.js';
import { isTerminal, TASK_STATUSES, type TaskStatus } from '../queue/states.js';

/**
 * Most distinct `queue` label values one metric family shows in one process, besides OTHER_QUEUE.
 * Whoever may enqueue may name a new queue: without a bound, every queue ever seen would be a
 * series for ever (10,000 queues made `/metrics` 5 MB and a scrape take seconds).
 */
export const MAX_QUEUE_LABELS = 200;

/**
 * The `queue` label value of everything beyond MAX_QUEUE_LABELS. A queue of that very name (one
 * made before names were checked as they are now) is shown under it too: never a second series
 * with the same labels, and sums still add up.
 */
export const OTHER_QUEUE = '(other)';

/**
 * The label a task counter gives a queue: its name for the first `limit` queues this process
 * counts, OTHER_QUEUE for any other. A counter's series stay for ever, so a queue keeps the label it
 * got first (the admitted names are remembered: at most `limit` of them).
 */
export function createQueueLabeler(limit = MAX_QUEUE_LABELS): (queue: string) => string {
  const admitted = new Set<string>();
  return (queue) => {
    if (queue === OTHER_QUEUE) return OTHER_QUEUE;
    if (admitted.has(queue)) return queue;
    if (admitted.size >= limit) return OTHER_QUEUE;
    admitted.add(queue);
    return queue;
  };
}

/** Tasks not finished yet: what a backlog alert looks at, so such queues keep their own series first. */
const UNFINISHED: readonly TaskStatus[] = TASK_STATUSES.filter((s) => !isTerminal(s));

/** A queue as the gauges show it: its statistics, and whether it is paused. */
export interface QueueView extends QueueStats {
  paused: boolean;
  /** The longest-running attempt's age in ms (the live read's); null when none runs. */
  oldestRunningAgeMs: number | null;
}

const sum = (stats: QueueStats, statuses: readonly TaskStatus[]): number => statuses.reduce((n, s) => n + stats.counts[s], 0);

/**
 * The queues as the gauges show them: at most `limit` queues by name, those with the most
 * unfinished tasks (then the most tasks in all, then by name), and the rest as one OTHER_QUEUE
 * entry whose counts are their sums, whose age is the oldest of theirs, and which is paused only
 * when all of them are (so that an alert leaving paused queues out still sees a backlog among them).
 */
export function boundQueueStats(stats: readonly QueueView[], limit = MAX_QUEUE_LABELS): QueueView[] {
  const named = stats.filter((s) => s.queue !== OTHER_QUEUE);
  if (named.length <= limit && named.length === stats.length) return [...stats];
  const ranked = [...named].sort(
    (a, b) => sum(b, UNFINISHED) - sum(a, UNFINISHED) || sum(b, TASK_STATUSES) - sum(a, TASK_STATUSES) || (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0),
  );
  const kept = ranked.slice(0, limit);
  const rest = [...ranked.slice(limit), ...stats.filter((s) => s.queue === OTHER_QUEUE)];
  if (rest.length === 0) return kept;
  const other: QueueView = {
    queue: OTHER_QUEUE,
    counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>,
    oldestPendingAgeMs: null,
    oldestRunningAgeMs: null,
    paused: rest.every((q) => q.paused),
  };
  for (const q of rest) {
    for (const s of TASK_STATUSES) other.counts[s] += q.counts[s];
    if (q.oldestPendingAgeMs !== null) other.oldestPendingAgeMs = Math.max(other.oldestPendingAgeMs ?? 0, q.oldestPendingAgeMs);
    if (q.oldestRunningAgeMs !== null) other.oldestRunningAgeMs = Math.max(other.oldestRunningAgeMs ?? 0, q.oldestRunningAgeMs);
  }
  return [...kept, other];
}
