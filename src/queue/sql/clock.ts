import type { Executor } from '../../db/client.js';

/**
 * One clock reading per statement. `clock_timestamp()` is read afresh at every call, so a
 * statement that wrote `finished_at = clock_timestamp()` and `expires_at = clock_timestamp() + ttl`
 * stored two instants a microsecond or so apart: `expiresAt − finishedAt` was the TTL ± 1 ms once
 * cut to milliseconds (about 1 time in 17,000), and a first attempt's `startedAt` and
 * `lastAttemptedAt` differed likewise. A statement that stamps a task more than once (and logs
 * its event) declares CLOCK_CTE in its WITH and reads `(SELECT at FROM clock)` wherever it needs
 * the time (CLOCK_AT, in an event's columns): a materialized CTE is evaluated once. (`now()` is one reading too, but the transaction's start:
 * a batch of changes in one transaction would all carry its first instant.)
 */
export const CLOCK_CTE = 'clock AS MATERIALIZED (SELECT clock_timestamp() AS at)';

/** The statement's one reading (needs CLOCK_CTE in the same WITH). */
export const CLOCK_AT = '(SELECT at FROM clock)';

/**
 * The database's clock now, the one every stamp of a task was read from (as above): a client
 * that shows how long ago a stamp was measures its own clock against this, not against the
 * server process's, which may be another machine's.
 */
export async function readClock(exec: Executor): Promise<Date> {
  const [row] = await exec`SELECT clock_timestamp() AS at`;
  return row?.at as Date;
}
