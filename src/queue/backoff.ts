import type { Backoff } from './task.js';

/** About 1 s, doubling, capped at 10 minutes, ±25 %. */
export const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 600_000, factor: 2, jitter: 0.25 };

/**
 * Delay before attempt `attempt + 1`, given that attempt number `attempt` (1-based) just failed.
 * Jitter spreads retries of tasks that failed together (a downstream outage) over time.
 */
export function backoffDelayMs(backoff: Partial<Backoff> | null | undefined, attempt: number, random = Math.random): number {
  const b = { ...DEFAULT_BACKOFF, ...(backoff ?? {}) };
  const exponential = Math.min(b.maxMs, b.baseMs * b.factor ** Math.max(0, attempt - 1));
  const jittered = exponential * (1 - b.jitter + 2 * b.jitter * random());
  return Math.max(0, Math.round(Math.min(b.maxMs, jittered)));
}
