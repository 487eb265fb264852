import type { Executor } from './client.js';
import { withDeadline } from './deadline.js';

/** A reading of the database's clock: its time against this process's clocks, and how sure. */
export interface ClockReading {
  /** The database's clock minus this process's wall clock, in ms (positive: this process is behind). */
  offsetMs: number;
  /** The round trip it was read in, in ms: the offset is known to ± half of it. */
  rttMs: number;
  /** The database's time at the middle of the round trip (ms since the epoch), and performance.now() then. */
  databaseMs: number;
  monotonicMs: number;
}

/**
 * Reads the database's clock `tries` times and keeps the reading of the shortest round trip, its
 * time taken at the middle of it. `wallNow` is this process's wall clock (a parameter for tests);
 * `within` bounds each read (default: 5 s, then a WriteTimeoutError).
 */
export async function readDatabaseClock(
  sql: Executor,
  o: { tries?: number; wallNow?: () => number; within?: <T>(work: Promise<T>) => Promise<T> } = {},
): Promise<ClockReading> {
  const { tries = 3, wallNow = () => Date.now(), within = <T>(work: Promise<T>) => withDeadline(work, 5000) } = o;
  let best: ClockReading | undefined;
  for (let i = 0; i < tries; i++) {
    const wallBefore = wallNow();
    const before = performance.now();
    const [row] = await within(sql`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`);
    const rttMs = performance.now() - before;
    const databaseMs = Number((row as { ms: number }).ms);
    const reading = { offsetMs: databaseMs - (wallBefore + rttMs / 2), rttMs, databaseMs, monotonicMs: before + rttMs / 2 };
    if (!best || reading.rttMs < best.rttMs) best = reading;
  }
  return best as ClockReading;
}

/**
 * The database's clock as this process keeps it: every stamp of a task (enqueuedAt, startedAt,
 * runAfter, event times), a key's creation, a lease, is the database's, so what a process judges
 * against such a stamp or against a deadline every server must agree on (a read token's, an API
 * key's or a JWT's expiry, a waiting task's reason) it judges on this clock, not its own: a clock-skew
 * tester had read tokens born expired on the other servers, keys valid on one server and not
 * another. Read when made (createDeps), and again in the background when `now()` finds the last
 * reading older than `intervalMs` (no timer to start or stop); carried between readings by the
 * monotonic clock, so a step of this host's wall clock does not move it.
 */
export interface DatabaseClock {
  /** The database's time now, in ms since the epoch (this process's wall clock until a first reading). */
  now(): number;
  /** The last reading, if any. */
  last(): ClockReading | undefined;
  /** Reads the clock again; a failed read keeps the last reading (the database away changes no clock). */
  read(): Promise<ClockReading | undefined>;
  /** The last reading if it is under `intervalMs` old, else a new one (what a scrape shows: a reading a quiet hour old was shown). */
  fresh(): Promise<ClockReading | undefined>;
}

export function createDatabaseClock(
  sql: Executor,
  o: {
    intervalMs?: number;
    wallNow?: () => number;
    /** Told of every reading: createDeps says when this process's clock goes more than a second off, and when it comes back. */
    onRead?: (reading: ClockReading) => void;
  } = {},
): DatabaseClock {
  const intervalMs = o.intervalMs ?? 60_000;
  const wallNow = o.wallNow ?? (() => Date.now());
  let reading: ClockReading | undefined;
  let reading$: Promise<ClockReading | undefined> | undefined;
  const read = (): Promise<ClockReading | undefined> =>
    (reading$ ??= readDatabaseClock(sql, { wallNow })
      .then(
        (r) => {
          reading = r;
          try {
            o.onRead?.(r);
          } catch {
            // A listener's failure (a logger's) is not the clock's: the reading stands.
          }
          return r;
        },
        () => reading,
      )
      .finally(() => (reading$ = undefined)));
  /** When a background read was last asked for (performance.now()): once a second at most while none succeeds. */
  let askedAt = Number.NEGATIVE_INFINITY;
  return {
    now() {
      const t = performance.now();
      if (t - (reading?.monotonicMs ?? Number.NEGATIVE_INFINITY) > intervalMs && t - askedAt > 1000) {
        askedAt = t;
        void read();
      }
      return reading ? reading.databaseMs + (t - reading.monotonicMs) : wallNow();
    },
    last: () => reading,
    read,
    fresh: () => (reading && performance.now() - reading.monotonicMs <= intervalMs ? Promise.resolve(reading) : read()),
  };
}
