import { WriteTimeoutError } from '../db/deadline.js';
import { isDatabaseUnavailable } from '../errors.js';

/**
 * Whether a failed write is worth trying again as it is: the database away (cut, restarting, a full
 * disk, no connection slot: isDatabaseUnavailable), a connection that stopped answering
 * (WriteTimeoutError), a deadlock or a serialization failure. Anything else is the statement's own.
 */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return isDatabaseUnavailable(error) || error instanceof WriteTimeoutError || code === '40P01' || code === '40001';
}

/** When a write that keeps failing is given up (OutcomeStoreOptions, OutputWriterOptions). */
export interface WriteRetryPolicy {
  /** How long to keep retrying a write, in ms from its first try; then see keepWhileAway. */
  retryForMs: number;
  /** Past `retryForMs`, whether a write whose database is still away (not refusing it for what it is) is kept and tried again: the runner says yes until it stops. Default no. */
  keepWhileAway?(): boolean;
  /** Whether a failed write is given up at once, whatever its time: the runner's stop is past its grace (a stop on a full disk took 273 s, one write's retryForMs after another). */
  giveUpNow?(): boolean;
}

/**
 * Whether a write that failed with `error` is given up now. Past the stop's grace, at once. Before
 * `until` (its first try + retryForMs, performance.now() ms), never. After it, only when the failure is not the database
 * being away, or when `keepWhileAway` says no more (the worker stopping): a result whose database
 * is away is kept and tried until the database is back (a two-minute full disk lost finished work at 90 s).
 */
export function givesUp(error: unknown, until: number, policy: WriteRetryPolicy): boolean {
  if (policy.giveUpNow?.() === true) return true;
  if (performance.now() <= until) return false;
  return !(policy.keepWhileAway?.() === true && isTransient(error));
}
