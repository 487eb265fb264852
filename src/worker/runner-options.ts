import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Registry } from './registry.js';

/** How a runner (src/worker/runner.ts) is set up; every field but the first three has a default. */
export interface RunnerOptions {
  sql: Sql;
  registry: Registry;
  log: Logger;
  /**
   * The database's clock in ms (createDeps passes its DatabaseClock's), for the one time a worker
   * stamps itself: a failed attempt's error `at`, which sat minutes from its event's on a host whose
   * clock was off. Default Date.now.
   */
  now?: () => number;
  /** Tasks run at once (default 10). */
  concurrency?: number;
  /**
   * Claim ahead: besides its free slots, a claim takes as many tasks as the slots are expected
   * to start within this many ms, judged by how long recent handlers took (default 10; 0: claim
   * only into free slots). Fast tasks then cost one claim per few hundred rather than per ten;
   * slow ones are never claimed ahead of time. See docs/decisions.md "Claiming ahead".
   */
  prefetchMs?: number;
  /**
   * Claim statements in flight at once while the worker wants many tasks (default 1; at most 4). With
   * 2, a want of 200 or more is claimed half at a time, two claims side by side: ~10 % more drained
   * per second when the worker has the database to itself, but more CPU taken from a server on the
   * same machine. See docs/decisions.md "Claims in flight".
   */
  claimsInFlight?: number;
  /** A task claimed ahead that still waits for a slot after this long goes back to the queue at the next heartbeat, in ms (default 1,000). */
  releaseWaitingAfterMs?: number;
  /** Queues to claim from; empty: all (default). */
  queues?: readonly string[];
  /** Poll when no notification came, in ms (default 1000). */
  pollIntervalMs?: number;
  /** Lease per claim and heartbeat, in ms (defaults 30,000 and 10,000). */
  leaseMs?: number;
  heartbeatMs?: number;
  /** On stop, wait this long for running tasks before aborting and releasing them, in ms (default 30,000). */
  shutdownGraceMs?: number;
  /** After an abort, a handler that ignores its signal keeps its slot this long, in ms (default 5,000). */
  abandonAfterMs?: number;
  /** Default retention of finished tasks, in ms (default 1 day). */
  resultTtlMs?: number;
  /** Largest return value, in bytes of JSON (default 1 MiB). */
  maxResultBytes?: number;
  /** Most output of one task (`ctx.output`), over all its attempts, in bytes of JSON (default 10 MiB). */
  maxOutputBytes?: number;
  workerId?: string;
}

/** What a runner does when its options leave something out (documented on RunnerOptions). */
export const RUNNER_DEFAULTS = {
  concurrency: 10,
  prefetchMs: 10,
  claimsInFlight: 1,
  releaseWaitingAfterMs: 1000,
  queues: [] as readonly string[],
  pollIntervalMs: 1000,
  leaseMs: 30_000,
  heartbeatMs: 10_000,
  shutdownGraceMs: 30_000,
  abandonAfterMs: 5000,
  resultTtlMs: 86_400_000,
  maxResultBytes: 1_048_576,
  maxOutputBytes: 10_485_760,
};
