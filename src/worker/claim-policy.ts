/**
 * How many tasks a worker claims, and when: pure functions of what it holds, tested without a
 * database (test/worker/claim-policy.test.ts). See docs/decisions.md "Claiming ahead".
 */

/** Most tasks claimed ahead of free slots (graphile-worker's local queue holds 500). */
export const MAX_CLAIM_AHEAD = 1000;

/** Weight of the newest run in the average run time (an exponentially weighted mean). */
const RUN_TIME_WEIGHT = 0.2;
/** Weight of the newest run in the mean over every name (RunTimes.meanMs): a mix's rare slow runs move it a little each. */
const MEAN_RUN_WEIGHT = 0.05;

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
  /**
   * Slots expected to free up within the lead (default `concurrency`): not those whose attempt has
   * run long already. Sized by all of them, a claim ahead behind slots held by minutes-long tasks
   * waited its second, went back and was claimed again, over and over (a tester's task reached
   * version 238 of STARTED and RELEASED).
   */
  cyclingSlots?: number;
  /**
   * How long a task is in hand without a slot besides the line: its claim's round trip and its
   * outcome's write, in ms (averaged; see roundTripMs). 0 or undefined: none counted.
   */
  roundTripMs?: number;
  /** The mean run time of every attempt, whatever its name, in ms (RunTimes.meanMs): with the slots, the rate tasks finish at. */
  meanRunMs?: number;
}

/**
 * How many tasks to hold beyond the free slots: what the slots should start within
 * `prefetchMs`, judged by the average run time. None while the run time is unknown, so a fresh
 * worker (or one whose handlers turned slow) claims only into free slots.
 */
export function claimAhead(s: Pick<ClaimState, 'concurrency' | 'averageRunMs' | 'prefetchMs' | 'cyclingSlots'>): number {
  if (s.prefetchMs <= 0 || s.averageRunMs === undefined) return 0;
  return startedWithin(s, s.prefetchMs, s.averageRunMs);
}

/** How many tasks of `runMs` the cycling slots start within `ms`, at most MAX_CLAIM_AHEAD. */
function startedWithin(s: Pick<ClaimState, 'concurrency' | 'cyclingSlots'>, ms: number, runMs: number): number {
  const slots = Math.max(0, Math.min(s.cyclingSlots ?? s.concurrency, s.concurrency));
  return Math.min(MAX_CLAIM_AHEAD, Math.floor((slots * ms) / Math.max(runMs, 0.01)));
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
  const ahead = Math.min(MAX_CLAIM_AHEAD, claimAhead(s) + inFlightAhead(s));
  const want = s.concurrency - s.running + ahead - s.waiting - s.recording;
  if (want <= 0 || (s.waiting > 0 && want < ahead / 4)) return 0;
  return want;
}

/**
 * What the worker's claims and writes hold in flight at the rate its slots finish tasks (Little's
 * law: that rate times the round trips), claimed besides the line: tasks asked for by a claim in
 * flight and tasks being written count against what a worker claims (tasksToClaim), and with only
 * WORKER_PREFETCH_MS' worth they used the lead up once the database took a while to commit. At
 * 100 ms commits a worker of 50 slots ran 5–20 ms handlers at ~110 a second with every slot empty,
 * its claims waiting for its writes and its writes for its claims, while a steady 300 a second
 * piled up (docs/decisions.md "Claiming ahead"). The rate is the slots over the mean run time of
 * every attempt, not the line's estimate: counted by the latest claim's slowest name, a claim that
 * happened to bring only fast tasks sized the next for 500 ms of them, which landed slow ones
 * and went back (RELEASED) from the line. None without WORKER_PREFETCH_MS, and none while the line's
 * run time is unknown (a fresh worker, a name not run here), as claimAhead.
 */
export function inFlightAhead(s: Pick<ClaimState, 'concurrency' | 'prefetchMs' | 'averageRunMs' | 'cyclingSlots' | 'roundTripMs' | 'meanRunMs'>): number {
  if (s.prefetchMs <= 0 || s.averageRunMs === undefined || !s.roundTripMs || s.meanRunMs === undefined) return 0;
  return startedWithin(s, s.roundTripMs, s.meanRunMs);
}

/**
 * The round trips a task spends in hand without a slot (inFlightAhead's roundTripMs): its claim's
 * and its outcome's write, averaged, in ms. At most half of releaseWaitingAfterMs, past which a
 * waiting task goes back: a database that slow is not made up for by holding more.
 */
export function roundTripMs(s: { claimMs: number | undefined; recordMs: number | undefined; releaseWaitingAfterMs: number }): number {
  return Math.min((s.claimMs ?? 0) + (s.recordMs ?? 0), s.releaseWaitingAfterMs / 2);
}

/** The average run time after one more run of `ranMs` (the first run sets it); round trips are averaged alike. */
export function nextAverageRunMs(averageRunMs: number | undefined, ranMs: number, weight = RUN_TIME_WEIGHT): number {
  return averageRunMs === undefined ? ranMs : averageRunMs + (ranMs - averageRunMs) * weight;
}

/** Task names whose run times one worker keeps; past it they start over (its registry's names, in practice). */
const MAX_NAMES = 1000;

/**
 * Handler times per task name, and what the claim policy sizes claims by: the slowest average of
 * the names in the worker's latest claim, unknown while one of them has not run here yet. One
 * average for the whole worker let a few fast tasks size a claim that landed slow ones: a worker
 * with 10 slots held 190 tasks of 300 ms ahead of its slots, RUNNING and STARTED for up to 5 s,
 * while a second worker idled (docs/decisions.md "Claiming ahead").
 */
export class RunTimes {
  private readonly byName = new Map<string, number>();
  /** The names of the latest claim that landed tasks. */
  private line = new Set<string>();
  private current: number | undefined = undefined;
  private mean: number | undefined = undefined;

  /** The run time to claim by (claimAhead's averageRunMs): undefined claims nothing ahead. */
  get estimateMs(): number | undefined {
    return this.current;
  }

  /** The mean run time of every attempt run here, whatever its name (what the slots finish per ms: inFlightAhead). */
  get meanMs(): number | undefined {
    return this.mean;
  }

  /** The names of the latest claim that landed tasks: what the estimate, and so the next claim, is sized by. */
  get lineNames(): ReadonlySet<string> {
    return this.line;
  }

  /** A claim landed these tasks: the estimate is now theirs. */
  claimed(tasks: readonly { name: string }[]): void {
    if (tasks.length === 0) return;
    const names = new Set<string>();
    for (const task of tasks) names.add(task.name);
    this.line = names;
    this.current = this.slowestOfLine();
  }

  /** A handler of `name` ran `ms`. */
  ran(name: string, ms: number): void {
    if (!this.byName.has(name) && this.byName.size >= MAX_NAMES) this.byName.clear();
    this.byName.set(name, nextAverageRunMs(this.byName.get(name), ms));
    this.mean = nextAverageRunMs(this.mean, ms, MEAN_RUN_WEIGHT);
    if (this.line.has(name)) this.current = this.slowestOfLine();
  }

  /** The average run time of `name` here, if one of its handlers ran. */
  of(name: string): number | undefined {
    return this.byName.get(name);
  }

  /** Tasks claimed on the estimate waited too long: every average is dropped, built again by the next runs. */
  forget(): void {
    this.byName.clear();
    this.current = undefined;
    this.mean = undefined;
  }

  private slowestOfLine(): number | undefined {
    let slowest = 0;
    for (const name of this.line) {
      const ms = this.byName.get(name);
      if (ms === undefined) return undefined;
      if (ms > slowest) slowest = ms;
    }
    return this.line.size === 0 ? undefined : slowest;
  }
}

/**
 * How many tasks of the waiting line to keep after a claim landed its last `landed` tasks there.
 * A claim is sized by the run times of the names of the claim before it (`sizedFor`); the tasks
 * it lands of those names are kept as sized (their averages move between the claim and its landing,
 * and cutting on that moved a task or two back and forth each claim of a drain). The line is cut at
 * the first landed task of another name whose known run time brings the slot time of the line
 * before it past `concurrency × prefetchMs` (the runner passes the longer of WORKER_PREFETCH_MS and
 * releaseWaitingAfterMs: see runner.ts cutLine): a claim sized by fast names that landed slow ones
 * keeps only what its slots start within that. A name not run here yet has no time to judge it by:
 * it is kept, and if it turns out slow the line's tasks go back once they have waited
 * releaseWaitingAfterMs (the runner checks then, not at the next heartbeat).
 */
export function waitingToKeep(
  line: readonly { name: string }[],
  landed: number,
  sizedFor: ReadonlySet<string>,
  runMs: (name: string) => number | undefined,
  s: Pick<ClaimState, 'concurrency' | 'prefetchMs'>,
): number {
  const budget = s.concurrency * s.prefetchMs;
  const landedFrom = Math.max(line.length - landed, 0);
  let used = 0;
  for (let i = 0; i < line.length; i++) {
    const name = (line[i] as { name: string }).name;
    const ms = runMs(name);
    if (ms === undefined) continue;
    if (i >= landedFrom && !sizedFor.has(name) && used + ms > budget) return i;
    used += ms;
  }
  return line.length;
}
