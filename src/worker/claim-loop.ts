import { exponentialDelayMs } from '../exponential-delay.js';
import { setTimeout as delay } from 'node:timers/promises';
import { settledOrRefused, type Sql } from '../db/client.js';
import { withDeadline, WriteTimeoutError } from '../db/deadline.js';
import type { Logger } from '../logger.js';
import { claimTasks } from '../queue/sql/claim-tasks.js';
import { tasksLockedBy } from '../queue/sql/tasks-locked-by.js';
import { claimLimitedTasks, comesFirst, readQueueHeads, type QueueHead } from '../queue/queue-control/index.js';
import type { Task } from '../queue/task.js';
import { nextAverageRunMs } from './claim-policy.js';
import type { QueueGate } from './queue-gate.js';

export interface ClaimLoopOptions {
  sql: Sql;
  workerId: string;
  log: Logger;
  /** Queues to claim from; empty: all. */
  queues: readonly string[];
  /** Lease of each claimed task, in ms. */
  leaseMs: number;
  /** Look for work this often even without a wake-up, in ms (NOTIFY is a hint: it can be missed). */
  pollIntervalMs: number;
  /** How many tasks to claim now; 0: none (the claim policy over what the worker holds). */
  wanted(): number;
  /**
   * Slots free now that no task in hand will take: how many claimed tasks start at once. The rest
   * of a claim waits for a slot, marked claimed ahead (ClaimParams.freeSlots). Default: all of it.
   */
  freeSlots?(): number;
  /** Claim statements in flight at once while much is wanted (RunnerOptions.claimsInFlight; 1: one claim at a time). */
  claimsInFlight: number;
  /** Paused and limited queues (flow control, docs/flow-control.md). */
  gate: QueueGate;
  /** Tasks this worker handed back for having no handler, left out of its claims (src/worker/passed-over.ts). */
  passedOver?(): readonly string[];
  /** Takes claimed tasks in (the runner queues and starts them). */
  accept(tasks: Task[]): void;
  /** Hands back tasks a claim took that were never accepted (it landed after stop() began, late, or lost). Never throws. */
  handBack(tasks: readonly Task[]): Promise<void>;
  /** A claim failed (the database is away); the loop backs off and the poll tries again. */
  claimFailed(error: unknown): void;
  /**
   * How long a claim statement may go without an answer before the loop takes its connection for
   * stuck and claims again on another (undefined or 0: for ever). What the stuck statement claimed,
   * if its answer comes after all, is handed back; if it never comes, the tasks' leases run out and
   * the rescuer takes them back (docs/decisions.md "A write whose answer was lost").
   */
  claimTimeoutMs?: number;
  /**
   * Ids of the tasks the worker has in hand (waiting, running, being recorded) or ran without its
   * outcome being stored: RUNNING under its lock, rightly. With it, a claim that failed after it may
   * have committed (its answer lost with the connection) is followed, once the database answers, by
   * a look at what the database holds under this worker's lock: the rest was taken by that claim
   * and goes back (handBack) at once, rather than after its lease, counted as a lost attempt.
   */
  known?(): ReadonlySet<string>;
}

/** The worker's producer: claims batches while the claim policy wants more, when woken or polled. */
export interface ClaimLoop {
  /** Starts polling and looks for work at once. */
  start(): void;
  /** Claims now, or right after the claim under way: a wake-up is never lost, and never doubles a claim. Ignored before start() and after stop(). */
  lookForWork(): void;
  /**
   * Looks for work in `ms` (and at the poll meanwhile): a task this worker made due later (a retry
   * after its backoff, a snooze) is claimed when due rather than at the next poll.
   */
  lookIn(ms: number): void;
  /** The average time a claim took to answer, in ms (an exponentially weighted mean); undefined before one did. */
  readonly claimRoundTripMs: number | undefined;
  /** Whether the last claim got every task it asked for: then more may be waiting, and a freed slot should claim at once. */
  readonly lastClaimFilled: boolean;
  /**
   * Whether a claim is under way: sent, and its tasks not yet accepted. What it claimed is committed
   * (others can see it RUNNING here, and cancel it) before this worker has it in hand.
   */
  readonly claiming: boolean;
  /** No more claims: cuts a back-off short and resolves once the claims under way have landed (its tasks accepted or handed back). */
  stop(): Promise<void>;
}

/**
 * With more than one claim in flight allowed, a want this large is claimed half at a time; beside a
 * claim in flight, another is made only for at least half of this. In a drain one claim of a few
 * hundred tasks is always in flight, and while PostgreSQL runs it the answer of the previous one is
 * committed, sent and parsed; claims side by side (disjoint rows: SKIP LOCKED) overlap those
 * (docs/decisions.md "Claims in flight").
 */
export const SPLIT_CLAIM_AT = 200;

/** Most times a claim loop keeps to look at (ClaimLoop.lookIn); later ones wait for the poll. */
const MAX_WAKE_TIMES = 1000;
/** Looks this close together are made one. */
const COALESCE_MS = 5;
/** The longest delay setTimeout takes (2^31 − 1 ms, ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createClaimLoop(o: ClaimLoopOptions): ClaimLoop {
  let started = false;
  let stopped = false;
  /** The claim loops running, each making one claim at a time (at most maxInFlight). */
  const loops = new Set<Promise<void>>();
  /** Tasks asked for by the claims in flight: not yet in hand, so not in o.wanted(). */
  let asked = 0;
  const maxInFlight = Number.isFinite(o.claimsInFlight) ? Math.min(4, Math.max(1, Math.floor(o.claimsInFlight))) : 1;
  let lookAgain = false;
  let lastClaimFilled = true;
  let claimRoundTripMs: number | undefined;
  let failures = 0;
  // Whether the last claim's unlimited statement took a task (or did not run): see claim().
  let unlimitedTook = true;
  // A claim statement failed after it may have committed (a connection closed or reset under it, or
  // one given up on past claimTimeoutMs): the tasks it took are RUNNING under this worker, and
  // nothing here knows them. Without a look (sweepLostClaims) they waited for their lease to run out,
  // and the rescuer counted the attempt they never made: a task of one attempt FAILED as WorkerLost.
  let unsure = false;
  // Claims given up on whose answer may still come: its tasks go back then (answered). A sweep waits
  // for them: it would hand such a task back, this worker could claim it again under the same attempt
  // number, and the late answer's hand-back would then take it from under its running handler.
  let lateAnswers = 0;
  let sweeping = false;
  let pollTimer: NodeJS.Timeout | undefined;
  // Times to look at, soonest first: the next opening of a used-up rate window (looking then keeps
  // a rate limit's windows full) and when this worker's own retries and snoozes fall due (else
  // they would wait for the poll). One timer, armed for the soonest. Monotonic (performance.now()):
  // after a step back of the wall clock a wake-up found "not due yet" and waited for the poll.
  const wakeTimes: number[] = [];
  let wakeTimer: NodeJS.Timeout | undefined;
  let wakeTimerAt = Infinity;

  function wakeAt(inMs: number): void {
    if (stopped) return;
    const at = performance.now() + Math.max(0, inMs);
    let i = wakeTimes.length;
    while (i > 0 && wakeTimes[i - 1]! > at) i--;
    // Looks a few ms apart are one look, at the later time: looking early would find nothing due.
    if (i < wakeTimes.length && wakeTimes[i]! - at < COALESCE_MS) return;
    if (i > 0 && at - wakeTimes[i - 1]! < COALESCE_MS) {
      wakeTimes[i - 1] = at;
      if (i === 1 && wakeTimer) {
        clearTimeout(wakeTimer);
        wakeTimerAt = Infinity;
      }
    } else {
      wakeTimes.splice(i, 0, at);
    }
    // Past this many, the latest are left to the poll.
    if (wakeTimes.length > MAX_WAKE_TIMES) wakeTimes.length = MAX_WAKE_TIMES;
    armWakeTimer();
  }

  function armWakeTimer(): void {
    const next = wakeTimes[0];
    if (next === undefined || next >= wakeTimerAt) return;
    clearTimeout(wakeTimer);
    wakeTimerAt = next;
    // +1: a timer may fire a little early, before the time it was set for. At most MAX_TIMER_MS: a
    // longer delay (a task due next month) makes Node fire at once; the timer is armed again.
    wakeTimer = setTimeout(onWakeTimer, Math.min(MAX_TIMER_MS, Math.max(0, next - performance.now()) + 1));
  }

  function onWakeTimer(): void {
    wakeTimer = undefined;
    wakeTimerAt = Infinity;
    const now = performance.now();
    let due = 0;
    while (due < wakeTimes.length && wakeTimes[due]! <= now) due++;
    wakeTimes.splice(0, due);
    if (due > 0) lookForWork();
    armWakeTimer();
  }
  // Aborted by stop(): cuts the back-off short, so it keeps neither stop() nor the process waiting.
  const stopController = new AbortController();
  // Aborted when stop() stops waiting for the claims under way: those not sent yet are cancelled.
  const givenUp = new AbortController();

  /** What a new claim should ask for now, beside the claims in flight (0: nothing worth a statement). */
  function wantedNow(): number {
    // No claim while the sweep compares the database with what is in hand: one landing meanwhile
    // would be in the first and not yet in the second.
    if (sweeping) return 0;
    const want = o.wanted() - asked;
    // Beside a claim in flight, only a share worth its own statement.
    return want <= 0 || (asked > 0 && want < SPLIT_CLAIM_AT / 2) ? 0 : want;
  }

  function lookForWork(): void {
    if (stopped || !started) return;
    // A loop that is running looks again before it ends; a second one starts only for a want worth a second claim.
    if (loops.size >= maxInFlight || (loops.size > 0 && wantedNow() === 0)) {
      lookAgain = true;
      return;
    }
    const loop: Promise<void> = claimWhileWanted().finally(() => {
      loops.delete(loop);
      // A wake-up that came after the loop's last look (a slot freed in between) would
      // otherwise wait for the next poll.
      if (lookAgain) lookForWork();
    });
    loops.add(loop);
  }

  async function claimWhileWanted(): Promise<void> {
    try {
      do {
        lookAgain = false;
        while (!stopped) {
          if (unsure && !sweeping && asked === 0 && lateAnswers === 0) await sweepLostClaims();
          const want = wantedNow();
          if (want === 0) {
            if (asked === 0) lastClaimFilled = true;
            break;
          }
          // Half now; the rest is a second claim's, beside this one (or this loop's next). Claims of
          // a few hundred overlap better than one claim of the whole want (bench/tools/drain-cost.ts).
          const take = maxInFlight > 1 && want >= SPLIT_CLAIM_AT ? Math.ceil(want / 2) : want;
          // The free slots the claims in flight ask for are theirs if they land first: counted out.
          const free = o.freeSlots ? Math.max(0, o.freeSlots() - asked) : take;
          asked += take;
          let claimed: Awaited<ReturnType<typeof claim>>;
          try {
            if (take < want) queueMicrotask(lookForWork);
            claimed = await claim(take, free);
          } finally {
            asked -= take;
          }
          if (!claimed) break;
          const { tasks, limitHeld } = claimed;
          if (stopped) {
            // stop() began during the claim: these never start, and go straight back.
            await o.handBack(tasks);
            break;
          }
          o.accept(tasks);
          lastClaimFilled = tasks.length === take;
          if (limitHeld && !lastClaimFilled) {
            // A limit held tasks back: a slot that frees up here should look again at once
            // (the limit may have room by then), but looping now would only meet the limit again.
            lastClaimFilled = true;
            break;
          }
          if (!lastClaimFilled) break;
        }
      } while (lookAgain && !stopped);
    } catch (error) {
      // Nothing above should throw; if something does, the next wake-up or poll tries again.
      o.log.error({ err: error }, 'claim loop failed');
    }
  }

  /**
   * A claim statement's answer within claimTimeoutMs, else a WriteTimeoutError; an answer that
   * comes later is handed back: its tasks are RUNNING here, and nobody waits for them any more.
   */
  async function answered<T>(statement: Promise<T>, tasksOf: (answer: T) => readonly Task[]): Promise<T> {
    try {
      return await withDeadline(statement, o.claimTimeoutMs);
    } catch (error) {
      if (error instanceof WriteTimeoutError) {
        lateAnswers += 1;
        void statement
          .then(
            (late) => {
              const tasks = tasksOf(late);
              if (tasks.length === 0) return;
              o.log.warn({ tasks: tasks.length }, 'a claim answered after it was given up on; handing its tasks back');
              return o.handBack(tasks);
            },
            () => undefined,
          )
          .finally(() => (lateAnswers -= 1));
      }
      throw error;
    }
  }

  /**
   * One claim: the limited queues each under its lock (claimLimitedTasks), the unlimited ones in one
   * statement, in the order of what each would take first (one order across queues: priority, then
   * runAfter, then id; docs/flow-control.md). The limited queues whose head comes before the unlimited
   * queues' head go first, the others after the unlimited claim, with what room it leaves: with a
   * limited queue always first, its priority −100 tasks started ahead of another queue's priority 100
   * (a tester's find, session 49). A limited queue whose head comes later waits as a task of another
   * queue would: at equal priorities its head becomes the oldest, and goes first. The order is kept
   * queue by queue: the first statement takes up to the claim's room, so within one claim a queue's
   * lower priorities can pass another's higher ones. The heads cost a read per claim while some queue
   * is limited (but one limited queue with nothing due elsewhere). Undefined when the database is away
   * (after a capped back-off; the poll tries again).
   */
  async function claim(limit: number, freeSlots: number): Promise<{ tasks: Task[]; limitHeld: boolean } | undefined> {
    const tasks: Task[] = [];
    let limitHeld = false;
    const began = performance.now();
    try {
      // Claimed-ahead tasks count against a limit (they are RUNNING) but start within prefetchMs,
      // and a worker that holds them too long hands them back (releaseWaitingAfterMs).
      const passedOver = o.passedOver?.();
      const limited = limit > 0 ? o.gate.limitedQueues() : [];
      // One limited queue, and nothing due elsewhere at the last claim: no order to keep, no read (a
      // drain of one limited queue, where a read per claim cost ~10 %). A task due elsewhere since is
      // ordered from the next claim on.
      const order =
        limited.length > 1 || (limited.length === 1 && unlimitedTook)
          ? inClaimOrder(limited, await withDeadline(readQueueHeads(o.sql, o.queues), o.claimTimeoutMs))
          : { before: limited, after: [] };
      // The worker starts what it accepts in this order: the free slots go to the first statements.
      const claimLimited = async (queues: readonly string[]): Promise<void> => {
        for (const queue of queues) {
          const room = limit - tasks.length;
          if (room <= 0 || stopped) break;
          const r = await answered(
            claimLimitedTasks(o.sql, { workerId: o.workerId, limit: room, queue, leaseMs: o.leaseMs, freeSlots: Math.max(0, freeSlots - tasks.length), passedOver, signal: givenUp.signal }),
            (late) => late.tasks,
          );
          tasks.push(...r.tasks);
          limitHeld ||= r.held;
          if (r.nextWindowInMs !== null) wakeAt(r.nextWindowInMs);
        }
      };
      await claimLimited(order.before);
      if (limit > tasks.length) {
        const statement = claimTasks(o.sql, {
          workerId: o.workerId,
          limit: limit - tasks.length,
          queues: o.queues,
          leaseMs: o.leaseMs,
          someHeld: o.gate.someHeld(),
          freeSlots: Math.max(0, freeSlots - tasks.length),
          passedOver,
          signal: givenUp.signal,
        });
        const taken = await answered(statement, (late) => late);
        tasks.push(...taken);
        unlimitedTook = taken.length > 0;
      } else unlimitedTook = true;
      await claimLimited(order.after);
      failures = 0;
      claimRoundTripMs = nextAverageRunMs(claimRoundTripMs, performance.now() - began);
      return { tasks, limitHeld };
    } catch (error) {
      // Any failure: telling one that cannot have committed (a statement refused before it ran) from
      // a connection that closed after the commit is not worth it, for one read of the running tasks.
      unsure = true;
      // Tasks an earlier statement of this claim took are ours: run them (the next claim retries the rest).
      if (tasks.length > 0) {
        o.log.warn({ err: error }, 'claim failed part-way; keeping what it took');
        return { tasks, limitHeld };
      }
      failures += 1;
      if (failures === 1 || failures % 10 === 0) o.log.warn({ err: error, failures }, 'claim failed; retrying');
      o.claimFailed(error);
      await delay(exponentialDelayMs(failures, { baseMs: 100, maxMs: 5000 }), undefined, { signal: stopController.signal }).catch(() => undefined);
      return undefined;
    }
  }

  /**
   * The limited queues to claim before the unlimited ones (their head comes first) and after them
   * (the rest, by their heads, then those with no due task seen), by `heads` (readQueueHeads). The
   * unlimited queues' head: the first of the heads of the queues neither limited nor paused.
   */
  function inClaimOrder(limited: readonly string[], heads: ReadonlyMap<string, QueueHead>): { before: string[]; after: string[] } {
    let unlimited: QueueHead | undefined;
    for (const [queue, head] of heads) {
      if (limited.includes(queue) || o.gate.isPaused(queue)) continue;
      if (!unlimited || comesFirst(head, unlimited)) unlimited = head;
    }
    const byHead = (a: string, b: string): number => {
      const ha = heads.get(a);
      const hb = heads.get(b);
      if (!ha || !hb) return ha ? -1 : hb ? 1 : 0;
      return comesFirst(ha, hb) ? -1 : 1;
    };
    const sorted = [...limited].sort(byHead);
    const first = (queue: string): boolean => {
      const head = heads.get(queue);
      return head !== undefined && (unlimited === undefined || comesFirst(head, unlimited));
    };
    return { before: sorted.filter(first), after: sorted.filter((queue) => !first(queue)) };
  }

  /**
   * After a claim that may have committed without its answer: what the database has RUNNING under this
   * worker and the worker does not know goes back (RELEASED, the attempt given back: it never began).
   * Run with no claim in flight and none started meanwhile (wantedNow), so every task a claim of this
   * worker took is either in hand or lost. Left for the next round if the database is still away.
   */
  async function sweepLostClaims(): Promise<void> {
    if (!o.known) {
      unsure = false;
      return;
    }
    sweeping = true;
    try {
      // Bounded as a claim is: a connection that stopped answering must not hold every claim back.
      const mine = await withDeadline(tasksLockedBy(o.sql, o.workerId), o.claimTimeoutMs);
      unsure = false;
      const known = o.known();
      const lost = mine.filter((task) => !known.has(task.id));
      if (lost.length > 0) {
        o.log.warn({ tasks: lost.length }, 'a claim whose answer was lost had taken tasks; handing them back');
        await o.handBack(lost);
      }
    } catch {
      // The database is still away: the claim below fails too, and the next round looks again.
    } finally {
      sweeping = false;
    }
  }

  return {
    start() {
      if (started || stopped) return;
      started = true;
      pollTimer = setInterval(lookForWork, o.pollIntervalMs);
      lookForWork();
    },
    lookForWork,
    lookIn: wakeAt,
    get claimRoundTripMs() {
      return claimRoundTripMs;
    },
    get lastClaimFilled() {
      return lastClaimFilled;
    },
    get claiming() {
      return asked > 0;
    },
    async stop() {
      stopped = true;
      clearInterval(pollTimer);
      clearTimeout(wakeTimer);
      wakeTimes.length = 0;
      stopController.abort();
      // A claim under way is waited for (what it lands goes straight back), but not while the
      // database refuses connections: its statement then waits for one, up to claimTimeoutMs, and
      // the sweep before it as long again. Not sent yet, it is cancelled: were the database back
      // before the pool ends, it would take tasks nobody here could hand back (the rescuer would,
      // counting an attempt that never ran). One sent before its connection died may have
      // committed: its tasks go back as a late claim's do, or to the rescuer, as after a crash.
      if ((await settledOrRefused(Promise.all(loops), o.sql)) === 'refused') {
        givenUp.abort();
        o.log.warn('the database refuses connections: the worker stops without waiting for its claim under way');
      }
    },
  };
}
