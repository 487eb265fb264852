import type { LiveQueueStats, QueueStats } from '../stats.js';

/** Most starts per window: `max` per `perMs` ms (fixed windows aligned to the epoch, docs/flow-control.md). */
export interface RateLimit {
  max: number;
  perMs: number;
}

/**
 * Limits to set on a queue. A field left out (undefined) keeps its value; null clears it.
 * concurrency, perKeyConcurrency and rateLimit.max are 1..1,000,000; rateLimit.perMs 1..86,400,000 (a day).
 */
export interface QueueLimitsInput {
  concurrency?: number | null;
  rateLimit?: RateLimit | null;
  perKeyConcurrency?: number | null;
}

/** A queue's flow-control settings: deployment-wide, the same for every tenant. */
export interface QueueSettings {
  name: string;
  paused: boolean;
  pausedAt: Date | null;
  /** Most RUNNING tasks at once (claimed-ahead ones included); null: no limit. */
  concurrency: number | null;
  rateLimit: RateLimit | null;
  /** Most RUNNING tasks per concurrency key; null: no limit. */
  perKeyConcurrency: number | null;
  /** Bumped by every change of the settings (1 for a queue never changed). */
  version: number;
}

/**
 * Which stats a read counts: 'all' (every status: one scan of the queue's tasks, or of the table
 * for a list) or 'live' (BLOCKED, PENDING, RUNNING, RETRYING only, through the partial indexes: for a
 * reader that shows nothing of the history, such as the dashboard's queue panel).
 */
export type StatsRead = 'all' | 'live';
export type StatsOf<R extends StatsRead> = R extends 'live' ? LiveQueueStats : QueueStats;

/** Settings plus the caller's view of the queue's tasks (counted within its tenant). */
export interface QueueInfo<S extends QueueStats | LiveQueueStats = QueueStats> extends QueueSettings {
  stats: S;
}

/**
 * Why a waiting task has not started, computed when read (docs/flow-control.md "waitReason"):
 * BLOCKED (a workflow step waiting for its parents), SCHEDULED (run_after in the future),
 * QUEUE_PAUSED, KEY_LIMIT, CONCURRENCY_LIMIT, RATE_LIMIT, in that order of precedence.
 */
export const WAIT_REASONS = ['SCHEDULED', 'QUEUE_PAUSED', 'CONCURRENCY_LIMIT', 'RATE_LIMIT', 'KEY_LIMIT', 'BLOCKED'] as const;
export type WaitReason = (typeof WAIT_REASONS)[number];

/** Pause, resume and limits per queue (`queue.queueControl`). */
export interface QueueControl {
  /** Pauses the queue (durable; a queue with no task yet may be paused). Workers hear of it at once and hand back what they claimed ahead. @throws BadUserInputError for a bad name */
  pause<R extends StatsRead = 'all'>(name: string, stats?: R): Promise<QueueInfo<StatsOf<R>>>;
  /** Resumes it and wakes the workers. @throws BadUserInputError for a bad name */
  resume<R extends StatsRead = 'all'>(name: string, stats?: R): Promise<QueueInfo<StatsOf<R>>>;
  /** Sets or clears limits (see QueueLimitsInput). @throws BadUserInputError naming the field */
  setLimits<R extends StatsRead = 'all'>(name: string, limits: QueueLimitsInput, stats?: R): Promise<QueueInfo<StatsOf<R>>>;
  /**
   * Queues by name: those holding tasks of the scope's tenant (finished ones included); unscoped, also
   * every queue with settings. The same list whichever `stats` are read.
   */
  list<R extends StatsRead = 'all'>(stats?: R): Promise<QueueInfo<StatsOf<R>>[]>;
  /** One queue (settings default when it has none; stats zero when the tenant has no task in it). */
  get<R extends StatsRead = 'all'>(name: string, stats?: R): Promise<QueueInfo<StatsOf<R>>>;
  /** Why each task has not started (null: it is not waiting, or nothing holds it but its turn); one read for the batch. */
  waitReasons(tasks: readonly WaitingTask[]): Promise<(WaitReason | null)[]>;
}

/** What waitReasons needs of a task. */
export interface WaitingTask {
  queue: string;
  status: string;
  runAfter: Date;
  concurrencyKey: string | null;
}
