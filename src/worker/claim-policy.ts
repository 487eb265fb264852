/**
 * How many tasks a worker claims, and when: pure functions of what it holds, tested without a
 * database (test/worker/claim-policy.test.ts). See docs/decisions.md "Claiming ahead".
 */

/** Most tasks claimed ahead of free slots (graphile-worker's local queue holds 500). */
export const MAX_CLAIM_AHEAD = 1000;

/** Weight of the newest run in the average run time (an exponentially weighted mean). */
const RUN_TIME_WEIGHT = 0.2;

export interface ClaimState {
  /** Slots: tasks run at once. */
  concurrency: number;
  /** Attempts running now. */
  running: number;
  /** Tasks claimed ahead, waiting for a slot. */
  waiting: number;
  /** Attempts whose handler is done and whose outcome is still being written. */
  recording: number;
  /** Average handler time in ms; undefined until a first task ran (or after the estimate was dropped). */
  averageRunMs: number | undefined;
  /** Claim ahead what the slots should start within this many ms (0: only into free slots). */
  prefetchMs: number;
}

/**
 * How many tasks to hold beyond the free slots: what the slots should start within
 * `prefetchMs`, judged by the average run time. None while the run time is unknown, so a fresh
 * worker (or one whose handlers turned slow) claims only into free slots.
 */
export function claimAhead(s: Pick<ClaimState, 'concurrency' | 'averageRunMs' | 'prefetchMs'>): number {
  if (s.prefetchMs <= 0 || s.averageRunMs === undefined) return 0;
  return Math.min(MAX_CLAIM_AHEAD, Math.floor((s.concurrency * s.prefetchMs) / Math.max(s.averageRunMs, 0.01)));
}

/**
 * Tasks the next claim should take, or 0 when it should wait. With tasks in hand, the lead is
 * topped up only once a quarter of it is used, so that a fast drain makes one claim of many
 * rather than many claims of one. Tasks whose outcome is still being written count as in hand:
 * when writes fall behind, claiming waits for them, so a worker that dies never leaves more
 * than `concurrency + ahead` tasks to be run again (a backlog of 956 finished but unrecorded
 * tasks was seen in test/reliability/worker-kill.test.ts before this).
 */
export function tasksToClaim(s: ClaimState): number {
  const ahead = claimAhead(s);
  const want = s.concurrency - s.running + ahead - s.waiting - s.recording;
  if (want <= 0 || (s.waiting > 0 && want < ahead / 4)) return 0;
  return want;
}

/** The average run time after one more run of `ranMs` (the first run sets it). */
export function nextAverageRunMs(averageRunMs: number | undefined, ranMs: number): number {
  return averageRunMs === undefined ? ranMs : averageRunMs + (ranMs - averageRunMs) * RUN_TIME_WEIGHT;
}
