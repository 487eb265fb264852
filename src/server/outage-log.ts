import { isDatabaseUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';

/** How long one line stands for the requests an outage refuses. */
const OUTAGE_LOG_WINDOW_MS = 10_000;

/**
 * The log of requests answered DATABASE_UNAVAILABLE. An outage is one event for the operator, not an
 * error line with a stack per request (a 26 s restart under 2.5 requests/s made 60–80 of them): the
 * first such request is logged at warn, then at most one line per window saying how many were
 * refused since. The answer itself is a coded, expected one (the client is told to try again).
 * Returns whether `error` was one of those (then it is logged here, or counted).
 */
export function createOutageLog(log: Logger, o: { windowMs?: number; now?: () => number } = {}): (error: unknown) => boolean {
  const windowMs = o.windowMs ?? OUTAGE_LOG_WINDOW_MS;
  const now = o.now ?? Date.now;
  let lastLineAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  return (error) => {
    // yoga hands over the GraphQLError it masked; what the database said is its originalError.
    const original = (error as { originalError?: unknown } | null)?.originalError ?? error;
    if (!isDatabaseUnavailable(original)) return false;
    const at = now();
    if (at - lastLineAt < windowMs) {
      unlogged += 1;
      return true;
    }
    const cause = original instanceof Error ? original.message : String(original);
    log.warn({ cause, refusedSinceLastLine: unlogged }, 'the database is unavailable: requests answered DATABASE_UNAVAILABLE');
    lastLineAt = at;
    unlogged = 0;
    return true;
  };
}
