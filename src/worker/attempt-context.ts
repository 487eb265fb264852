import type { Logger } from '../logger.js';
import type { JsonValue } from '../queue/json.js';
import type { Task } from '../queue/task.js';
import type { ProgressUpdate, TaskContext, TaskLogger, TaskLogMethod } from './define-task.js';
import type { RunningAttempt } from './held-tasks.js';
import { createSnoozeRequest, type SnoozeRequest } from './snooze.js';

/** What every attempt's context is made from, once per worker (the runner's). */
export interface AttemptContextSource {
  workerId: string;
  log: Logger;
  /** The attempt's `ctx.progress`; called on the handler's first read of it. */
  progress(attempt: RunningAttempt): (update: ProgressUpdate) => Promise<void>;
  /** The attempt's `ctx.output`; called on the handler's first read of it. */
  output(attempt: RunningAttempt): (chunk: unknown) => Promise<void>;
  /** The attempt's `ctx.outputEnded` (its output's writer is made by the first read of either). */
  outputEnded(attempt: RunningAttempt): boolean;
}

/**
 * A handler's `ctx`. What most handlers never touch (the signal, the logger, progress, output,
 * snooze) is made on first read. Why a class: the object literal it replaces had getters, and an
 * object literal with accessors is a dictionary-mode object in V8 (~1.2 KB per attempt against
 * ~0.25 KB for the same fields as a fast object: bench/README.md (a)). Every member still reads the
 * same, also taken off the object (`const { progress, retryAfter, log } = ctx`): the getters return
 * plain functions, each made once per attempt. Unlike the literal, the lazy members are on the
 * prototype, so a spread or `Object.keys(ctx)` lists only the plain fields.
 */
export class AttemptContext implements TaskContext<unknown> {
  attempt: number;
  taskId: string;
  workerId: string;
  kwargs: unknown;
  dependencies: Readonly<Record<string, JsonValue | null>>;
  readonly #source: AttemptContextSource;
  readonly #attempt: RunningAttempt;
  #progress: ((update: ProgressUpdate) => Promise<void>) | undefined = undefined;
  #output: ((chunk: unknown) => Promise<void>) | undefined = undefined;
  #snooze: SnoozeRequest | undefined = undefined;
  #log: TaskLogger | undefined = undefined;

  constructor(source: AttemptContextSource, attempt: RunningAttempt, kwargs: unknown, dependencies: Readonly<Record<string, JsonValue | null>>) {
    const task = attempt.task;
    this.attempt = task.attempts;
    this.taskId = task.id;
    this.workerId = source.workerId;
    this.kwargs = kwargs;
    this.dependencies = dependencies;
    this.#source = source;
    this.#attempt = attempt;
  }

  /** Made on first read (attempt-controller.ts). */
  get signal(): AbortSignal {
    return this.#attempt.signal;
  }

  get progress(): (update: ProgressUpdate) => Promise<void> {
    return (this.#progress ??= this.#source.progress(this.#attempt));
  }

  get output(): (chunk: unknown) => Promise<void> {
    return (this.#output ??= this.#source.output(this.#attempt));
  }

  get outputEnded(): boolean {
    return this.#source.outputEnded(this.#attempt);
  }

  get retryAfter(): (ms: number) => never {
    return (this.#snooze ??= createSnoozeRequest()).ask;
  }

  get snooze(): (ms: number) => never {
    return (this.#snooze ??= createSnoozeRequest()).ask;
  }

  get log(): TaskLogger {
    return (this.#log ??= attemptLog(this.#source.log, this.#attempt.task));
  }

  /** The delay the handler asked for with retryAfter / snooze; undefined when it did not ask. */
  get snoozeDelayMs(): number | undefined {
    return this.#snooze?.delayMs;
  }
}

/**
 * `ctx.log`: the worker's logger with the task's id and attempt. Made on the handler's first read
 * of `ctx.log` (a pino child per attempt, serializing its bindings at once, made whether the handler
 * logs or not, was a few µs of every no-op task in a drain); its methods are plain functions, so a
 * handler may take one off it (`const { info } = ctx.log`), as before.
 */
function attemptLog(parent: Logger, task: Task): TaskLogger {
  const log = parent.child({ taskId: task.id, attempt: task.attempts });
  return {
    debug: logMethod(log, 'debug'),
    info: logMethod(log, 'info'),
    warn: logMethod(log, 'warn'),
    error: logMethod(log, 'error'),
  };
}

/**
 * Both orders of TaskLogMethod onto pino's `(obj, msg)`. A string first is the message (the fields
 * after it); anything else first is pino's order, passed on as it is: an object's fields, an
 * Error under `err` (pino's serializer). Before, `info({ apiKey }, 'line')` logged `line` and lost the object.
 */
function logMethod(log: Logger, level: 'debug' | 'info' | 'warn' | 'error'): TaskLogMethod {
  return (first: unknown, second?: unknown): void => {
    if (typeof first === 'string') log[level](second ?? {}, first);
    else if (typeof second === 'string') log[level](first, second);
    else log[level](first);
  };
}
