import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { decodeDueNotice } from '../queue/due-notice.js';
import { JOBS_CHANNEL, listen, type Listener } from '../queue/events.js';
import type { Task } from '../queue/task.js';
import type { Service } from '../service.js';
import { createClaimLoop } from './claim-loop.js';
import { nextAverageRunMs, roundTripMs, RunTimes, tasksToClaim, waitingToKeep } from './claim-policy.js';
import { executeTask, type ExecuteOptions, type Outcome } from './execute-task.js';
import { abortAttempt, createHeldTasks, type RunningAttempt } from './held-tasks.js';
import { createLeaseKeeper, type DropReason } from './lease-keeper.js';
import { createOutcomeStore } from './outcome-store.js';
import { createDependencyReader } from './dependencies.js';
import { createOutputWriter, type AttemptOutput } from './output-writer.js';
import { createPassedOver } from './passed-over.js';
import { RUNNER_DEFAULTS, type RunnerOptions } from './runner-options.js';
import { createWorkerId } from './worker-id.js';
import { createQueueGate } from './queue-gate.js';
import { decodeQueueControl } from '../queue/queue-control/index.js';

export type { RunnerOptions } from './runner-options.js';

export interface RunnerEvents {
  claimed: [tasks: Task[]];
  /** An attempt ended and its outcome is stored (or dropped: `lost`). `task` is the task as it was claimed (RUNNING), not as stored now; `detail`, the outcome itself, for an attempt that ran. */
  finished: [task: Task, outcome: Outcome['kind'], detail?: Outcome];
  error: [error: unknown];
}

export interface Runner extends EventEmitter<RunnerEvents>, Service {
  readonly workerId: string;
  /** Its slots: how many tasks it runs at once (WORKER_CONCURRENCY, or its override). */
  readonly concurrency: number;
  /** Tasks running now. */
  readonly running: number;
  /** Tasks claimed ahead, waiting for a slot (see `prefetchMs`). */
  readonly waiting: number;
  /** Graceful: stop claiming, wait for running tasks (up to the grace), release the rest. */
  stop(): Promise<void>;
}

/**
 * A worker, cut by job as River cuts producer / executor / completer: the claim loop
 * (claim-loop.ts) claims batches while the claim policy (claim-policy.ts) wants more, into the
 * free slots and, for fast handlers, ahead of them; each attempt runs in executeTask (never
 * throws); its output and outcome are written by the output writer and the outcome store
 * (batched); the lease keeper renews the leases of everything held (held-tasks.ts). What is
 * left here is the loop over them: start attempts as slots free up, and stop in order. Woken by
 * NOTIFY on the jobs channel, with a poll as the fallback (NOTIFY is a hint: it can be missed
 * while the listening connection reconnects).
 */
export function createRunner(options: RunnerOptions): Runner {
  const o = { ...RUNNER_DEFAULTS, ...options };
  const { sql, registry } = o;
  const workerId = o.workerId ?? createWorkerId();
  const log = o.log.child({ workerId });
  const emitter = new EventEmitter<RunnerEvents>();
  const held = createHeldTasks();
  // Handler times per task name, the basis of how far ahead to claim (see claim-policy.ts).
  const runTimes = new RunTimes();
  // Heartbeats keep the lease of a task whose outcome is being retried (held as recording), so
  // a write may be retried for longer than one lease; past that the rescuer takes the task back.
  const retryForMs = 3 * o.leaseMs;
  // A write (or a claim) with no answer after a lease (10 s at least: a lock wait may take
  // DB_LOCK_TIMEOUT_MS) is taken for stuck on its connection and tried again on another
  // (src/db/deadline.ts).
  const writeTimeoutMs = Math.max(o.leaseMs, 10_000);
  const outcomes = createOutcomeStore({
    sql,
    registry,
    workerId,
    log,
    resultTtlMs: o.resultTtlMs,
    ...(o.now ? { now: o.now } : {}),
    retryForMs,
    // A result is kept while the database is away, until the worker stops (then retryForMs bounds
    // it), and given up at its next failure once the stop is past its grace.
    keepWhileAway: () => !stopping,
    giveUpNow: pastStopGrace,
    writeTimeoutMs,
    // Claimed when due, not at the next poll (other workers poll for it as before).
    dueAgainIn: (ms) => claims.lookIn(ms),
  });
  // Tasks handed back for want of a handler here: left out of this worker's claims for a while.
  const passedOver = createPassedOver();
  const dependencyReader = createDependencyReader(sql);
  const outputs = createOutputWriter({ sql, workerId, log, maxOutputBytes: o.maxOutputBytes, retryForMs, writeTimeoutMs, keepWhileAway: () => !stopping, giveUpNow: pastStopGrace });
  const leases = createLeaseKeeper({
    sql,
    workerId,
    log,
    held,
    leaseMs: o.leaseMs,
    heartbeatMs: o.heartbeatMs,
    releaseWaitingAfterMs: o.releaseWaitingAfterMs,
    handBack,
    forgetRunTimeEstimate: () => runTimes.forget(),
    dropWaiting,
    claiming: () => claims.claiming,
  });
  // Attempts and recordings under way: stop() waits for them. A count, not a set of their
  // promises: an attempt counts itself in and out (a `.then` per attempt to leave a set was garbage
  // in a drain of no-op tasks), other work through track().
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  let listener: Listener | undefined;
  let started = false;
  let stopping = false;
  /** When a stop's grace (and the abandon after it) ends: writes that fail after it are given up at once. */
  let stopGraceEndsAt = Number.POSITIVE_INFINITY;
  function pastStopGrace(): boolean {
    return performance.now() >= stopGraceEndsAt;
  }
  let stopped: Promise<void> | undefined;

  // Paused and limited queues (docs/flow-control.md): refreshed on notifications and every poll.
  const gate = createQueueGate({ sql, log, queues: o.queues });
  let gateTimer: NodeJS.Timeout | undefined;
  /**
   * Slots that should free up within a lead: not those whose attempt has run past
   * releaseWaitingAfterMs, the wait after which a claimed-ahead task goes back (claim-policy.ts
   * cyclingSlots). A lead sized by every slot waited behind the long ones, went back and came again.
   */
  const cyclingSlots = (): number => o.concurrency - held.runningSince(performance.now() - o.releaseWaitingAfterMs);
  /** How long an outcome is held as recording, from its handler's end to its write's answer, in ms (averaged). */
  let recordMs: number | undefined;
  const wanted = (): number =>
    tasksToClaim({
      concurrency: o.concurrency,
      running: held.running,
      waiting: held.waiting,
      recording: held.recording,
      averageRunMs: runTimes.estimateMs,
      prefetchMs: o.prefetchMs,
      cyclingSlots: cyclingSlots(),
      roundTripMs: roundTripMs({ claimMs: claims.claimRoundTripMs, recordMs, releaseWaitingAfterMs: o.releaseWaitingAfterMs }),
      meanRunMs: runTimes.meanMs,
    });
  const claims = createClaimLoop({
    sql,
    workerId,
    log,
    queues: o.queues,
    leaseMs: o.leaseMs,
    pollIntervalMs: o.pollIntervalMs,
    claimsInFlight: o.claimsInFlight,
    claimTimeoutMs: writeTimeoutMs,
    wanted,
    // Slots a claimed task starts in at once; what a claim takes beyond them waits, claimed ahead.
    freeSlots: () => o.concurrency - held.running - held.waiting,
    gate,
    passedOver: passedOver.ids,
    accept(tasks) {
      const sizedFor = runTimes.lineNames;
      runTimes.claimed(tasks);
      held.addWaiting(tasks, performance.now());
      // Heard of before they start: starting runs each handler's synchronous part, which the
      // duration the task log and /metrics time from 'claimed' must include. A listener cannot
      // keep them from running: emitSafely swallows its throw, and they are held already.
      if (tasks.length > 0) emitSafely('claimed', tasks);
      startWaitingTasks();
      // A cancellation asked for after the claim committed and before its answer came: acted on now.
      leases.accepted(tasks);
      handBackMisjudged(tasks.length, sizedFor);
      armWaitCheck();
    },
    // What a claim took and the runner never accepted (claimed after stop() began, a late answer, a lost
    // one): back to the queue without 'finished', for nothing said 'claimed' of them (/metrics counted
    // more tasks finished than started).
    handBack: (tasks) => (tasks.length === 0 ? Promise.resolve() : outcomes.handBack(tasks)),
    known() {
      const { waiting, started } = held.leaseIds();
      return new Set([...waiting, ...started, ...unrecorded]);
    },
    claimFailed(error) {
      // EventEmitter throws an 'error' nobody listens to: that would turn a database
      // blip into an unhandled rejection that ends the process.
      if (emitter.listenerCount('error') > 0) emitter.emit('error', error);
    },
  });

  // Tasks whose attempt ran here and whose outcome could not be stored (the database stayed away):
  // RUNNING under this worker until the rescuer takes them, and not to be handed back as if a lost
  // claim had taken them (the claim loop's `known`): that would give back an attempt that ran.
  // The latest UNRECORDED_KEPT only: more is a database gone for longer than any lease.
  const unrecorded = new Set<string>();
  function noteUnrecorded(id: string): void {
    unrecorded.add(id);
    if (unrecorded.size > UNRECORDED_KEPT) unrecorded.delete(unrecorded.values().next().value as string);
  }

  /** Starts waiting tasks while there are free slots; a task whose queue was paused since its claim goes back instead. */
  function startWaitingTasks(): void {
    const paused: Task[] = [];
    while (held.running < o.concurrency && !stopping) {
      const task = held.nextWaiting();
      if (!task) break;
      if (gate.isPaused(task.queue)) paused.push(task);
      else runAttempt(task);
    }
    if (paused.length > 0) track(handBack(paused));
  }

  /**
   * Of the `landed` tasks a claim just put at the end of the line, those of names its size did not
   * count on and whose known run time says they would start after a second go straight back
   * (RELEASED, the attempt given back) for other workers to start now (claim-policy.ts
   * waitingToKeep). A name not run here waits: its first run judges the line (handBackSlowerThanLead).
   */
  function handBackMisjudged(landed: number, sizedFor: ReadonlySet<string>): void {
    if (held.waiting === 0 || landed === 0) return;
    // The common case, a drain of the same names: nothing to judge (and no copy of the line).
    let sameNames = true;
    for (const name of runTimes.lineNames) if (!sizedFor.has(name)) sameNames = false;
    if (!sameNames) cutLine(held.waitingTasks(), Math.min(landed, held.waiting), sizedFor);
  }

  /** Once `name` has a time, the line is cut where its tasks would start after a second, as at a landing. */
  function handBackSlowerThanLead(name: string): void {
    const line = held.waitingTasks();
    const others = new Set<string>();
    for (const task of line) if (task.name !== name) others.add(task.name);
    cutLine(line, line.length, others);
  }

  /**
   * Hands back the end of the waiting `line` that waitingToKeep does not keep: what the slots would
   * not start within releaseWaitingAfterMs (a second), the wait after which a waiting task goes back
   * anyway. Cut at WORKER_PREFETCH_MS (10 ms) instead, a mixed backlog churned: a claim of one free
   * slot that brought only fast tasks sized the next for hundreds, whose slow tasks went straight
   * back and were claimed again (3,400 RELEASED events for 200 tasks), and with a slow round trip to
   * the database the slots idled between claims: 200 mixed tasks drained in 7.1 s at 80 ms round
   * trips against 3.0 s kept to a second, 1.8 against 1.7 s on loopback (docs/decisions.md).
   */
  function cutLine(line: readonly Task[], landed: number, sizedFor: ReadonlySet<string>): void {
    const keep = { concurrency: cyclingSlots(), prefetchMs: Math.max(o.prefetchMs, o.releaseWaitingAfterMs) };
    const back = held.takeWaitingBeyond(waitingToKeep(line, landed, sizedFor, (name) => runTimes.of(name), keep));
    if (back.length > 0) track(handBack(back));
  }

  // Tasks that have waited releaseWaitingAfterMs for a slot go back then, not at the next heartbeat
  // (HEARTBEAT_MS, 10 s): a claim that landed slow tasks of a name not run here held them RUNNING
  // behind busy slots for seconds while other workers idled. Armed while anything waits.
  let waitCheck: NodeJS.Timeout | undefined;
  function armWaitCheck(): void {
    if (waitCheck !== undefined || held.waiting === 0 || stopping) return;
    waitCheck = setTimeout(() => {
      waitCheck = undefined;
      track(leases.handBackStaleWaiting().then(armWaitCheck));
    }, o.releaseWaitingAfterMs);
    waitCheck.unref();
  }

  /** A queue was paused: what was claimed ahead of it and has not started goes back (RELEASED), for whenever it resumes. */
  function handBackPaused(): void {
    const back = held.waitingTasks().filter((task) => gate.isPaused(task.queue) && held.removeWaiting(task));
    if (back.length > 0) track(handBack(back));
  }

  /** After a slot freed up: fill it from the line, and claim if the last claim suggests more is there. */
  function slotFreed(): void {
    startWaitingTasks();
    if (claims.lastClaimFilled && wanted() > 0) claims.lookForWork();
  }

  /** Hands tasks that never started back to the queue (shutdown, or waited too long). */
  async function handBack(tasks: readonly Task[]): Promise<void> {
    if (tasks.length === 0) return;
    await outcomes.handBack(tasks);
    for (const task of tasks) emitSafely('finished', task, 'released');
  }

  /** Emits a runner event; a listener that throws is logged, never allowed to break the runner. */
  function emitSafely<E extends 'claimed' | 'finished'>(event: E, ...args: RunnerEvents[E]): void {
    try {
      (emitter.emit as (e: E, ...a: RunnerEvents[E]) => boolean)(event, ...args);
    } catch (error) {
      log.error({ err: error, event }, 'a runner event listener threw');
    }
  }

  function track(work: Promise<void>): void {
    inFlight += 1;
    void work.then(workEnded); // never rejects: see attempt and dropWaiting
  }

  function workEnded(): void {
    inFlight -= 1;
    if (inFlight > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once no attempt or recording is under way (work begun meanwhile included). */
  function idle(): Promise<void> {
    return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
  }

  // Each attempt's latest ctx.progress write; only attempts that report progress have one.
  const progressWrites = new WeakMap<RunningAttempt, Promise<void>>();

  // What every attempt's executeTask and ctx are made from: one object for the worker, not one per attempt.
  const execution: ExecuteOptions = {
    workerId,
    log,
    abandonAfterMs: o.abandonAfterMs,
    maxResultBytes: o.maxResultBytes,
    dependencies: dependencyReader.read,
    passOver: passedOver.add,
    progress(attempt) {
      const report = outcomes.progressReporter(attempt.task);
      return (update) => {
        // The promise of the write that will carry this update (coalesced: the latest one waiting
        // rides it), for attempt() to wait on before the outcome ends RUNNING.
        const writing = report(update);
        progressWrites.set(attempt, writing);
        return writing;
      };
    },
    output(attempt) {
      return outputOf(attempt).write;
    },
    outputEnded(attempt) {
      return outputOf(attempt).ended;
    },
  };

  /** The attempt's output writer, made on the handler's first use of ctx.output or ctx.outputEnded. */
  function outputOf(attempt: RunningAttempt): AttemptOutput {
    const output = (attempt.output ??= outputs.forAttempt(attempt.task));
    // First asked for after the attempt ended (a handler's stray continuation): nothing is written, as before.
    if (attempt.outputClosed) void output.close();
    return output;
  }

  /** Ends an attempt's output (made only if the handler asked for it); resolves once its chunks are settled. */
  function closeOutput(attempt: RunningAttempt): Promise<void> | undefined {
    attempt.outputClosed = true;
    return attempt.output?.close();
  }

  /** Waits for `work` (which never rejects), but at most `ms`. */
  async function settledWithin(work: Promise<void>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    try {
      await Promise.race([work, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  function runAttempt(task: Task): void {
    // An older attempt of this task still here lost its lease (we hold a newer one): stop it.
    held.abortRunning(task.id, 'lost');
    inFlight += 1; // counted out at the attempt's end
    void attempt(held.startRunning(task));
  }

  /** One attempt, from its start to its outcome stored. Never rejects (see track). */
  async function attempt(running: RunningAttempt): Promise<void> {
    const task = running.task;
    const began = performance.now();
    try {
      const outcome = await executeTask(execution, running, registry.get(task.name));
      const ended = performance.now();
      // The slot is free as soon as the handler is done: claim the next task while this
      // outcome is being written (the write batches with others meanwhile). Waiting for the
      // commit first left slots idle for a round trip per task (bench/README.md).
      held.toRecording(task);
      // Only handlers that ran to their end count: not a task handed back for want of a handler
      // here (it took no time), nor one stopped by a shutdown or a lost lease.
      if (outcome.kind !== 'released' && outcome.kind !== 'lost' && !(outcome.kind === 'snoozed' && outcome.handedBack)) {
        const firstRun = runTimes.of(task.name) === undefined;
        runTimes.ran(task.name, ended - began);
        // Its tasks waiting in the line were held on no time at all: judged now by this first one.
        if (firstRun && held.waiting > 0) handBackSlowerThanLead(task.name);
      }
      slotFreed();
      // Output first: recording the outcome ends the RUNNING state its writes are guarded by.
      // (Awaited only when there is output: most attempts have none, and an await is a microtask turn.)
      const closing = closeOutput(running);
      if (closing) await closing;
      // Progress too, for the same reason: a last `void ctx.progress(…)` before returning must
      // not land after SUCCEEDED, where its RUNNING guard drops it. Bounded by one lease: a write
      // stuck on a lock must not keep the task held (recording, counted against claims) for ever;
      // output is bounded by its retries.
      const progressing = progressWrites.get(running);
      if (progressing) await settledWithin(progressing, o.leaseMs);
      const written = await outcomes.record(task, outcome);
      recordMs = nextAverageRunMs(recordMs, performance.now() - ended);
      if (!written) noteUnrecorded(task.id);
      // The claim at slotFreed() above ran before this outcome committed, so a limited queue
      // still counted the task as RUNNING: its place is free only now, and nobody else knows.
      if (gate.isLimited(task.queue)) claims.lookForWork();
      // The whole outcome too: the failure log line says why (its error) and whether it is retried.
      // An outcome that was not written (the rescuer took the attempt back meanwhile, or the
      // database stayed away) is reported as lost: the log and the metrics say what the database holds.
      if (emitter.listenerCount('finished') > 0) emitSafely('finished', task, written ? outcome.kind : 'lost', outcome);
    } catch (error) {
      // executeTask never throws and record gives up quietly: this is a last line of
      // defence, so that a bug here can neither leak the slot nor end the process.
      log.error({ err: error, taskId: task.id }, 'task bookkeeping failed');
    } finally {
      void closeOutput(running);
      held.forget(task);
    }
    try {
      slotFreed();
    } finally {
      workEnded();
    }
  }

  /** A waiting task that is no longer ours, or whose cancellation was asked for, never starts. */
  function dropWaiting(task: Task, reason: DropReason): void {
    if (!held.removeWaiting(task)) return;
    if (reason === 'lost') {
      emitSafely('finished', task, 'lost');
      return;
    }
    track(
      (async (): Promise<void> => {
        await outcomes.record(task, { kind: 'cancelled', error: null });
        emitSafely('finished', task, 'cancelled');
      })(),
    );
  }

  function onJobsNotification(payload: string): void {
    const notice = decodeQueueControl(payload);
    if (notice) {
      // Applied at once (a paused queue's waiting tasks go back now), then read again in full.
      gate.apply(notice);
      if (notice.change === 'paused') handBackPaused();
      void gate.refresh().then(() => claims.lookForWork());
      return;
    }
    if (payload.startsWith('cancel:')) {
      leases.routeCancel(payload.slice('cancel:'.length));
      return;
    }
    const due = decodeDueNotice(payload);
    if (due) {
      if (serves(due.queue)) claims.lookIn(due.inMs);
      return;
    }
    if (serves(payload)) claims.lookForWork();
  }

  function serves(queue: string): boolean {
    return o.queues.length === 0 || o.queues.includes(queue);
  }

  async function shutdown(): Promise<void> {
    // A runner made and never started (its process failed to start first) has no worker to stop:
    // "worker stopped" would be the last log line under the error that says why.
    const ran = started;
    stopping = true;
    stopGraceEndsAt = performance.now() + o.shutdownGraceMs + o.abandonAfterMs;
    // A claim under way may still land tasks: wait for it, so that none is left RUNNING in the
    // table with nobody holding it. What it lands never starts (the claim loop hands it straight
    // back, PENDING): a task not begun is better run by a worker that is not going away.
    await claims.stop();
    clearInterval(gateTimer);
    clearTimeout(waitCheck);
    // Claimed ahead but never started: back to the queue at once, for other workers.
    await handBack(held.takeAllWaiting());
    if (held.running > 0) {
      log.info({ running: held.running, graceMs: o.shutdownGraceMs }, 'waiting for running tasks');
      // Cancelled once drained: a pending 30 s timer would keep the process alive after stop().
      const graceTimer = new AbortController();
      const graceOver = delay(o.shutdownGraceMs, 'timeout' as const, { signal: graceTimer.signal }).catch(() => 'drained' as const);
      const drained = idle().then(() => 'drained' as const);
      const first = await Promise.race([graceOver, drained]);
      graceTimer.abort();
      if (first === 'timeout') {
        log.warn({ running: held.running }, 'grace period over; releasing running tasks');
        for (const attempt of held.runningAttempts()) abortAttempt(attempt, 'shutdown');
      }
    }
    // Aborted handlers end within abandonAfterMs; their outcomes (released) are stored here.
    await idle();
    // Leases renewed until now: the outcomes above may have taken longer than one lease.
    leases.stop();
    // Listening until now, so a task cancelled during the grace period hears of it at once
    // (wake-ups are ignored once stopping).
    await listener?.close().catch(() => undefined);
    if (ran) log.info('worker stopped');
  }

  async function start(): Promise<void> {
    if (started || stopping) return;
    started = true;
    try {
      listener = await listen(sql, JOBS_CHANNEL, {
        onNotify: onJobsNotification,
        // After a reconnect notifications may have been missed: look for work. Logged, so
        // an operator sees the worker came back after a database restart.
        onListen: (reconnected) => {
          if (reconnected) log.info('jobs listener reconnected; looking for work');
          claims.lookForWork();
        },
      });
    } catch (error) {
      started = false;
      throw error;
    }
    if (stopping) {
      // stop() ran while LISTEN was being set up: it found nothing to close.
      await listener.close().catch(() => undefined);
      return;
    }
    // Known before the first claim, so that a queue paused before a restart is never started here.
    await gate.refresh();
    if (stopping) return;
    gateTimer = setInterval(() => void gate.refresh(), o.pollIntervalMs);
    leases.start();
    log.info({ concurrency: o.concurrency, queues: o.queues }, 'worker started');
    claims.start();
  }

  // Object.assign would copy `running` once, as the number it is now: define it as a getter.
  Object.defineProperty(emitter, 'running', { get: () => held.running, enumerable: true });
  Object.defineProperty(emitter, 'waiting', { get: () => held.waiting, enumerable: true });
  return Object.assign(emitter, {
    workerId,
    concurrency: o.concurrency,
    start,
    stop() {
      // A second call waits for the same shutdown rather than returning before it is done.
      stopped ??= shutdown();
      return stopped;
    },
  }) as Runner;
}

/** How many tasks whose outcome could not be stored a runner remembers (see `unrecorded`). */
const UNRECORDED_KEPT = 10_000;
