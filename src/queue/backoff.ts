import { BadUserInputError } from '../errors.js';
import { exponentialDelayMs } from '../exponential-delay.js';
import type { Backoff } from './task.js';

export { exponentialDelayMs, type ExponentialDelay } from '../exponential-delay.js';

/**
 * The retry delay of tasks: every path that schedules a task's next attempt (a failed attempt,
 * a rescued lease) asks `backoffDelayMs`. Other waits after a failure use `exponentialDelayMs`
 * (re-exported here), the same curve with their own numbers.
 */

/** About 1 s, doubling, capped at 10 minutes, ±25 %. */
export const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 600_000, factor: 2, jitter: 0.25 };

/**
 * Delay before attempt `attempt + 1`, given that attempt number `attempt` (1-based) just failed.
 * Jitter spreads retries of tasks that failed together (a downstream outage) over time.
 * Settings missing from `backoff` (or not numbers) come from DEFAULT_BACKOFF.
 */
export function backoffDelayMs(backoff: Partial<Backoff> | null | undefined, attempt: number, random = Math.random): number {
  const b = { ...DEFAULT_BACKOFF };
  for (const key of Object.keys(b) as (keyof Backoff)[]) {
    const value = backoff?.[key];
    if (typeof value === 'number' && !Number.isNaN(value)) b[key] = value;
  }
  return exponentialDelayMs(attempt - 1, { ...b, random });
}

/** Longest delay a backoff may describe: a year, in ms (beyond it PostgreSQL intervals overflow soon). */
const MAX_DELAY_MS = 365 * 86_400_000;

const LIMITS: Record<keyof Backoff, [min: number, max: number]> = {
  baseMs: [0, MAX_DELAY_MS],
  maxMs: [0, MAX_DELAY_MS],
  factor: [1, 100],
  jitter: [0, 1],
};

/**
 * Checks a backoff given at enqueue or in a task definition, and keeps only its known keys.
 * It is stored and read back by SQL (the rescuer casts it to numbers): a string or a NaN in
 * it would break the retry of that task, and the rescuer's statement for every task.
 * @throws BadUserInputError naming the field, e.g. `backoff.baseMs`
 */
export function checkBackoff(value: unknown, field = 'backoff'): Partial<Backoff> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadUserInputError(`${field} must be an object with baseMs, maxMs, factor and/or jitter`, { field });
  }
  const checked: Partial<Backoff> = {};
  for (const [key, item] of Object.entries(value)) {
    const limits = LIMITS[key as keyof Backoff];
    if (!limits) {
      throw new BadUserInputError(`${field}.${key} is not a backoff setting (baseMs, maxMs, factor, jitter)`, { field: `${field}.${key}` });
    }
    if (item === undefined) continue;
    const [min, max] = limits;
    if (typeof item !== 'number' || !Number.isFinite(item) || item < min || item > max) {
      throw new BadUserInputError(`${field}.${key} must be a number from ${min} to ${max}, got ${JSON.stringify(item) ?? String(item)}`, {
        field: `${field}.${key}`,
      });
    }
    checked[key as keyof Backoff] = item;
  }
  return checked;
}
