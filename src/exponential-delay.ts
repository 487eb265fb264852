/**
 * The one exponential wait after a failure, with its numbers given by the caller: a task's
 * retry (src/queue/backoff.ts), a worker's failed claim, a retried outcome write, the event
 * hub's read, the database pool's and the client's reconnections. No imports, so every layer
 * may use it (src/db and src/client sit below or beside the queue core).
 */

/** How an exponential wait grows. */
export interface ExponentialDelay {
  /** The first delay (step 0), in ms. */
  baseMs: number;
  /** The longest delay, in ms: a hard ceiling, jitter included. */
  maxMs: number;
  /** Growth per step (default 2). */
  factor?: number;
  /** Spread as a fraction of the delay, 0..1 (default 0: none): the delay is scaled by 1 ± jitter. */
  jitter?: number;
  /** Source of randomness for the jitter, 0 ≤ x < 1 (default Math.random). */
  random?: () => number;
}

/**
 * The wait before retry number `step` (0-based: 0 after the first failure):
 * `min(maxMs, baseMs * factor^step)`, then scaled by a random 1 ± `jitter`, then capped at
 * `maxMs` again (so at the cap the jitter only shortens the wait). Whole ms, never negative.
 *
 * Defined for every input: the cap is decided in logarithms, so a huge `step` (10,000 steps of
 * factor 10) gives `maxMs` rather than Infinity, and 0 × Infinity never makes a NaN. Settings
 * are clamped: NaN or negative counts as 0 (factor: 1), jitter and `random()` to 0..1.
 */
export function exponentialDelayMs(step: number, delay: ExponentialDelay): number {
  // Whole ms: rounding the result must not take it past the ceiling.
  const maxMs = Math.floor(clamp(delay.maxMs, 0, Number.MAX_SAFE_INTEGER));
  const baseMs = clamp(delay.baseMs, 0, maxMs);
  const factor = clamp(delay.factor ?? 2, 1, Number.POSITIVE_INFINITY);
  const n = Number.isNaN(step) ? 0 : Math.max(0, Math.floor(step));
  let capped = baseMs;
  if (baseMs > 0 && factor > 1 && n > 0) {
    // baseMs * factor^n ≥ maxMs  ⇔  n ≥ log(maxMs / baseMs) / log(factor): no power is taken past the cap.
    capped = n >= Math.log(maxMs / baseMs) / Math.log(factor) ? maxMs : Math.min(maxMs, baseMs * factor ** n);
  }
  const jitter = clamp(delay.jitter ?? 0, 0, 1);
  if (jitter === 0) return Math.round(capped);
  const random = clamp((delay.random ?? Math.random)(), 0, 1);
  const jittered = capped * (1 - jitter + 2 * jitter * random);
  return Math.round(Math.min(maxMs, jittered));
}

/** `value` within [min, max]; NaN (or not a number at all) counts as `min`. */
function clamp(value: number, min: number, max: number): number {
  return typeof value === 'number' && value > min ? Math.min(value, max) : min;
}
