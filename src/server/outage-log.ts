import { isDatabaseUnavailable, isLockTimeout } from '../errors.js';
import type { Logger } from '../logger.js';

/** How long one line stands for the requests an outage refuses. */
const OUTAGE_LOG_WINDOW_MS = 10_000;

/**
 * The log of requests answered DATABASE_UNAVAILABLE. An outage is one event for the operator, not an
 * error line with a stack per request (a 26 s restart under 2.5 requests/s made 60–80 of them): the
 * first such request is logged at warn, then at most one line per window saying how many were
 * refused since. The answer itself is a coded, expected one (the client is told to try again).
 * The count of a window's last refusals is logged when the window ends, not at the next outage's
 * first refusal (minutes later, under that outage's time). Returns whether `error` was one of
 * those (then it is logged here, or counted).
 */
export function createOutageLog(log: Logger, o: { windowMs?: number; now?: () => number } = {}): (error: unknown) => boolean {
  const windowMs = o.windowMs ?? OUTAGE_LOG_WINDOW_MS;
  // Elapsed time only: monotonic, so a step of the wall clock neither stretches nor ends a window.
  const now = o.now ?? (() => performance.now());
  let lastLineAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  let lastCause = '';
  let lastWasLockWait = false;
  let flush: NodeJS.Timeout | undefined;
  const line = (at: number): void => {
    // A lock wait past DB_LOCK_TIMEOUT_MS is answered as an outage is (try again), but the database is up:
    // "unavailable" sent an operator looking at the wrong thing (a tester's find).
    const msg = lastWasLockWait
      ? 'a request waited past DB_LOCK_TIMEOUT_MS for a lock another session held (the database is up): requests answered DATABASE_UNAVAILABLE'
      : 'the database is unavailable: requests answered DATABASE_UNAVAILABLE';
    log.warn({ cause: lastCause, refusedSinceLastLine: unlogged }, msg);
    lastLineAt = at;
    unlogged = 0;
  };
  return (error) => {
    // yoga hands over the GraphQLError it masked; what the database said is its originalError.
    const original = (error as { originalError?: unknown } | null)?.originalError ?? error;
    if (!isDatabaseUnavailable(original)) return false;
    const at = now();
    lastCause = causeOf(original);
    lastWasLockWait = isLockTimeout(original);
    if (at - lastLineAt < windowMs) {
      unlogged += 1;
      // Unref'd: a process stopping does not wait for it (its last count is then not said).
      flush ??= setTimeout(() => {
        flush = undefined;
        if (unlogged > 0) line(now());
      }, lastLineAt + windowMs - at).unref();
      return true;
    }
    clearTimeout(flush);
    flush = undefined;
    line(at);
    return true;
  };
}

/**
 * What the database said: its message, and its detail where it has one. A NOTIFY refused by a full
 * disk says "could not access status of transaction 0" and puts "No space left on device" in the
 * detail only (an operator's outage lines named the disk in 97 of 102 cases, not in those 5).
 */
function causeOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const detail = (error as { detail?: unknown }).detail;
  return typeof detail === 'string' && detail !== '' && !error.message.includes(detail) ? `${error.message} (${detail})` : error.message;
}
