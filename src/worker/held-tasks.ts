import type { Task } from '../queue/task.js';
import { AttemptController } from './attempt-controller.js';
import type { AbortReason } from './execute-task.js';
import type { AttemptOutput } from './output-writer.js';

/**
 * An attempt running in a slot: its task, its abort (the controller is the attempt itself, one
 * object per attempt rather than two), and its output writer once the handler asked for one.
 */
export class RunningAttempt extends AttemptController {
  /** `ctx.output`'s writer, made on the handler's first read of `ctx.output` (most never write). */
  output: AttemptOutput | undefined = undefined;
  /** The runner closed this attempt's output: a writer made after that is closed at once. */
  outputClosed = false;
  /** When its handler started (performance.now()). */
  readonly startedAt = performance.now();

  constructor(readonly task: Task) {
    super();
  }

  /** The attempt's abort (itself). */
  get controller(): AttemptController {
    return this;
  }
}

interface WaitingTask {
  task: Task;
  /** When it was claimed (performance.now(): a wall clock stepped back held such tasks for the step). */
  at: number;
}

/**
 * Every task a worker holds the lease of, in the three places it can be: claimed ahead and
 * waiting for a slot, running, or done and having its outcome written. State only: the runner
 * decides what moves where, the lease keeper renews the leases of all three.
 */
export interface HeldTasks {
  readonly running: number;
  readonly waiting: number;
  readonly recording: number;
  /** Appends claimed tasks to the waiting line, in claim (priority) order. */
  addWaiting(tasks: readonly Task[], at: number): void;
  /** Takes the first waiting task, if any. */
  nextWaiting(): Task | undefined;
  /** Takes this waiting task out of the line; false when it is not there (started, or taken already). */
  removeWaiting(task: Task): boolean;
  /** Takes every task that has waited since `before` (performance.now() ms) or longer. */
  takeWaitingSince(before: number): Task[];
  /** Takes the whole waiting line. */
  takeAllWaiting(): Task[];
  /** Takes the end of the waiting line past its first `keep` tasks (the last claimed). */
  takeWaitingBeyond(keep: number): Task[];
  waitingTasks(): Task[];
  /** Puts an attempt in a slot; returns it (it is also the controller that aborts it). */
  startRunning(task: Task): RunningAttempt;
  runningAttempts(): RunningAttempt[];
  /** Running attempts whose handler started at or before `before` (performance.now() ms). */
  runningSince(before: number): number;
  /** Aborts every running attempt of task `id` (an older one of a task claimed again may still run). */
  abortRunning(id: string, reason: AbortReason): void;
  /** The handler is done: the slot is free, the outcome is being written, the lease is still ours. */
  toRecording(task: Task): void;
  /** The attempt is over here: out of every place. */
  forget(task: Task): void;
  /**
   * Ids of every task held, once each (the leases to renew), in two lists: `waiting`, the tasks in
   * the waiting line (not started: the mark of a task claimed ahead stays), and `started`, the others
   * (running or being recorded: the heartbeat clears their mark, extendLeases). A task in the line
   * whose older attempt still runs is waiting.
   */
  leaseIds(): { waiting: string[]; started: string[] };
}

export function createHeldTasks(): HeldTasks {
  // Keyed by attempt, not by task id: after its lease was taken back, a task can be claimed
  // again by this same worker while the old attempt's handler still runs. A Task object is one
  // attempt (each claim makes its own), so the object is the key: a key string built three
  // times per task cost more than the map did in a drain of no-op tasks.
  const running = new Map<Task, RunningAttempt>();
  // Handler done, outcome not yet stored (a batch in flight, or retries while the database is
  // away): still ours, so heartbeats keep their leases, or the rescuer would run them again.
  const recording = new Set<Task>();
  let waiting: WaitingTask[] = [];

  return {
    get running() {
      return running.size;
    },
    get waiting() {
      return waiting.length;
    },
    get recording() {
      return recording.size;
    },
    addWaiting(tasks, at) {
      for (const task of tasks) waiting.push({ task, at });
    },
    nextWaiting: () => waiting.shift()?.task,
    removeWaiting(task) {
      const index = waiting.findIndex((w) => w.task === task);
      if (index < 0) return false;
      waiting.splice(index, 1);
      return true;
    },
    takeWaitingSince(before) {
      // The line is in claim order, so its head is the oldest: most calls stop here.
      if (waiting.length === 0 || (waiting[0] as WaitingTask).at > before) return [];
      const stale = waiting.filter((w) => w.at <= before).map((w) => w.task);
      waiting = waiting.filter((w) => w.at > before);
      return stale;
    },
    takeAllWaiting() {
      const all = waiting.map((w) => w.task);
      waiting = [];
      return all;
    },
    takeWaitingBeyond(keep) {
      if (waiting.length <= keep) return [];
      return waiting.splice(Math.max(keep, 0)).map((w) => w.task);
    },
    waitingTasks: () => waiting.map((w) => w.task),
    startRunning(task) {
      const attempt = new RunningAttempt(task);
      running.set(task, attempt);
      return attempt;
    },
    runningAttempts: () => [...running.values()],
    runningSince(before) {
      let count = 0;
      for (const attempt of running.values()) if (attempt.startedAt <= before) count += 1;
      return count;
    },
    abortRunning(id, reason) {
      // No copy of the map: the runner asks this for every attempt it starts.
      for (const attempt of running.values()) if (attempt.task.id === id) attempt.abort(reason);
    },
    toRecording(task) {
      running.delete(task);
      recording.add(task);
    },
    forget(task) {
      running.delete(task);
      recording.delete(task);
    },
    leaseIds() {
      const waitingIds = new Set<string>();
      for (const w of waiting) waitingIds.add(w.task.id);
      const started = new Set<string>();
      for (const r of running.values()) if (!waitingIds.has(r.task.id)) started.add(r.task.id);
      for (const t of recording) if (!waitingIds.has(t.id)) started.add(t.id);
      return { waiting: [...waitingIds], started: [...started] };
    },
  };
}

/** Tells a running attempt to stop, once: the first reason is the one its outcome follows. */
export function abortAttempt(attempt: RunningAttempt, reason: AbortReason): void {
  attempt.abort(reason);
}
