import type { QueueStats } from '../stats.js';

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

/** Settings plus the caller's view of the queue's tasks (counted within its tenant). */
export interface QueueInfo extends QueueSettings {
  stats: QueueStats;
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
  pause(name: string): Promise<QueueInfo>;
  /** Resumes it and wakes the workers. @throws BadUserInputError for a bad name */
  resume(name: string): Promise<QueueInfo>;
  /** Sets or clears limits (see QueueLimitsInput). @throws BadUserInputError naming the field */
  setLimits(name: string, limits: QueueLimitsInput): Promise<QueueInfo>;
  /** Queues by name: those holding tasks of the scope's tenant; unscoped, also every queue with settings. */
  list(): Promise<QueueInfo[]>;
  /** One queue (settings default when it has none; stats zero when the tenant has no task in it). */
  get(name: string): Promise<QueueInfo>;
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
