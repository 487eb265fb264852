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

/**
 * Whether a write that failed with `error` is given up now. Before `until` (its first failure +
 * retryForMs), never. After it, only when the failure is not the database being away, or when
 * `keepWhileAway` says no more (the worker stopping): a result whose database is away is kept
 * and tried until the database is back (a two-minute full disk lost finished work at 90 s).
 */
export function givesUp(error: unknown, until: number, keepWhileAway: (() => boolean) | undefined): boolean {
  if (Date.now() <= until) return false;
  return !(keepWhileAway?.() === true && isTransient(error));
}
