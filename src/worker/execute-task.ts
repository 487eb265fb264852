import { inspect } from 'node:util';
import { encodeJson, JsonEncodeError, storableText } from '../queue/json.js';
import type { Task } from '../queue/task.js';
import { AttemptContext, type AttemptContextSource } from './attempt-context.js';
import type { TaskContext, TaskDefinition } from './define-task.js';
import type { Dependencies } from './dependencies.js';
import type { RunningAttempt } from './held-tasks.js';
import { isNonRetryable } from './non-retryable-error.js';
import { PASSED_OVER_FOR_MS } from './passed-over.js';

/** Why a running attempt was told to stop. */
export type AbortReason = 'timeout' | 'cancel' | 'shutdown' | 'lost';

export interface AttemptError {
  exceptionType: string;
  message: string;
  traceback: string | null;
}

export type Outcome =
  | { kind: 'succeeded'; returnValue: string }
  | { kind: 'failed'; error: AttemptError; retryable: boolean }
  | { kind: 'cancelled'; error: AttemptError | null }
  /** Shutdown: hand the task back. */
  | { kind: 'released' }
  /** The handler asked to run again later (ctx.retryAfter / ctx.snooze): back to waiting, the attempt not used. */
  /**
   * …or this worker has no handler for it (`handedBack`): its queue's workers are woken for it, and
   * not this one ahead of them (see unknownTask).
   */
  | { kind: 'snoozed'; delayMs: number; handedBack?: true }
  /** The lease is gone (rescued elsewhere): record nothing. */
  | { kind: 'lost' };

export interface ExecuteOptions extends AttemptContextSource {
  /** After an abort, how long the handler gets to stop before its slot is taken back, in ms. */
  abandonAfterMs: number;
  maxResultBytes: number;
  /** A workflow step's `ctx.dependencies` (dependencies.ts); none: empty. */
  dependencies?: (task: Task) => Promise<Dependencies>;
  /**
   * This worker has no handler for `task` and hands it back: leave it out of this worker's claims
   * until `until` (performance.now() ms; src/worker/passed-over.ts). False when it cannot (its list is
   * full). None: nothing is left out.
   */
  passOver?(task: Task, until: number): boolean;
}

const ABANDONED = Symbol('abandoned');

/** How a handler's promise settled. */
type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

const NO_DEPENDENCIES: Dependencies = Object.freeze({});

/**
 * Runs one attempt and says how it ended. Never throws: whatever the handler does
 * (throws a non-Error, returns a BigInt, never settles) becomes an Outcome.
 * Once the attempt was aborted, the abort reason decides the outcome, whatever the
 * handler returns afterwards: a timeout is a failed attempt, a cancellation is CANCELLED.
 * `o` is the worker's, made once; what is the attempt's own is `attempt` (held-tasks.ts).
 */
export async function executeTask(o: ExecuteOptions, attempt: RunningAttempt, definition: TaskDefinition | undefined): Promise<Outcome> {
  const task = attempt.task;
  if (!definition) return unknownTask(o, task);
  let parsed: { args: unknown; kwargs: unknown };
  try {
    parsed = definition.parse(task.args, task.kwargs);
  } catch (error) {
    return failed({ ...describeError(error), exceptionType: 'InvalidArguments' }, false);
  }

  let dependencies = NO_DEPENDENCIES;
  if (o.dependencies && task.dependsOn.length > 0) {
    try {
      dependencies = await o.dependencies(task);
    } catch {
      // The database is away: the attempt has not begun, so hand the task back rather than run it without its inputs.
      return { kind: 'released' };
    }
  }

  const timeoutMs = task.timeoutMs ?? definition.timeoutMs;
  const timer = timeoutMs ? setTimeout(abortOnTimeout, timeoutMs, attempt) : undefined;
  let abandonTimer: NodeJS.Timeout | undefined;
  const ctx = new AttemptContext(o, attempt, parsed.kwargs, dependencies);
  // The handler's end, or ABANDONED abandonAfterMs after an abort it ignores: one promise rather
  // than a Promise.race over two, which a drain of no-op tasks paid in allocations per attempt.
  const settled = await new Promise<Settled | typeof ABANDONED>((resolve) => {
    let running: Promise<unknown>;
    try {
      running = Promise.resolve(definition.run(parsed.args, ctx as TaskContext<unknown>));
    } catch (error) {
      // A definition's run is async; this is for one that is not: its throw is a rejection.
      running = Promise.reject(error);
    }
    running.then(
      (value) => resolve({ ok: true, value }),
      (error: unknown) => resolve({ ok: false, error }),
    );
    attempt.onAbort(() => {
      abandonTimer = setTimeout(resolve, o.abandonAfterMs, ABANDONED);
    });
  });
  clearTimeout(timer);
  clearTimeout(abandonTimer);

  const reason = attempt.reason;
  if (reason === 'lost') return { kind: 'lost' };
  if (reason === 'shutdown') return { kind: 'released' };
  if (reason === 'cancel') {
    const error = settled !== ABANDONED && !settled.ok && !isAbort(settled.error, reason) ? recordable(describeError(settled.error)) : null;
    return { kind: 'cancelled', error };
  }
  if (reason === 'timeout') {
    const note = settled === ABANDONED ? ` and did not stop within ${o.abandonAfterMs} ms of being aborted` : '';
    return failed({ exceptionType: 'TimeoutError', message: `Task exceeded its timeout of ${timeoutMs} ms${note}`, traceback: null }, true);
  }
  if (settled === ABANDONED) return { kind: 'lost' }; // unreachable: abandoning follows an abort
  // Asked for, whatever the handler did after (it may have caught the signal and returned).
  const snoozeDelayMs = ctx.snoozeDelayMs;
  if (snoozeDelayMs !== undefined) return { kind: 'snoozed', delayMs: snoozeDelayMs };
  if (!settled.ok) return failed(describeError(settled.error), !isNonRetryable(settled.error));
  return encodeResult(settled.value, o.maxResultBytes);
}

/** A timer's callback, shared: a closure per attempt only to call this was garbage in a drain. */
function abortOnTimeout(attempt: RunningAttempt): void {
  attempt.abort('timeout' satisfies AbortReason);
}

function encodeResult(value: unknown, maxBytes: number): Outcome {
  let json: string;
  try {
    json = encodeJson(value, 'returnValue');
  } catch (error) {
    // encodeJson throws only JsonEncodeError; anything else must still not escape (see executeTask).
    // Its message may hold the offending key as it is (a NUL, a lone surrogate): failed() makes it storable.
    const message = error instanceof JsonEncodeError ? error.message : describeError(error).message;
    return failed({ exceptionType: 'ResultNotSerializable', message, traceback: null }, false);
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) {
    return failed(
      { exceptionType: 'ResultTooLarge', message: `returnValue is ${bytes} bytes of JSON, over the limit of ${maxBytes}`, traceback: null },
      false,
    );
  }
  return { kind: 'succeeded', returnValue: json };
}

/**
 * How long after its enqueue a task this worker has no handler for is handed back for another worker
 * rather than failed: during a rolling deploy a new server accepts a task name that the old workers
 * still claiming do not know yet, and a fleet may split its task names between workers. Past it the
 * task fails with UnknownTask (not retried: no attempt would find a handler here).
 */
export const UNKNOWN_TASK_GRACE_MS = 600_000;
/**
 * How long such a task waits before it is claimable again when this worker cannot leave it out of
 * its claims (its list of tasks passed over is full). Otherwise it is due again at once: this worker
 * leaves it alone for PASSED_OVER_FOR_MS, and a worker that has the handler takes it when woken.
 */
export const UNKNOWN_TASK_SNOOZE_MS = 5_000;

/** Task names each worker has warned of (once per name per worker, not per hand-back). */
const warnedUnknown = new WeakMap<ExecuteOptions, Set<string>>();

function unknownTask(o: ExecuteOptions, task: Task): Outcome {
  const message = `No handler for task "${task.name}" in this worker`;
  // Its age on the database's clock (the claim stamped lastAttemptedAt): a worker's own clock ten
  // minutes ahead failed every such task at once, and one behind kept them for longer.
  const claimedAt = task.lastAttemptedAt ?? task.enqueuedAt;
  const graceLeftMs = UNKNOWN_TASK_GRACE_MS - (claimedAt.getTime() - task.enqueuedAt.getTime());
  if (graceLeftMs <= 0) return failed({ exceptionType: 'UnknownTask', message, traceback: null }, false);
  let warned = warnedUnknown.get(o);
  if (!warned) warnedUnknown.set(o, (warned = new Set()));
  if (!warned.has(task.name)) {
    warned.add(task.name);
    o.log.warn(
      { name: task.name, taskId: task.id },
      `${message}: handed back (no attempt used) for a worker that has one, and not claimed here again for ${PASSED_OVER_FOR_MS / 1000} s; failed UnknownTask ${UNKNOWN_TASK_GRACE_MS / 60_000} min after its enqueue; load it (TASK_MODULES) or give it a queue only its workers take`,
    );
  }
  // Left alone until the grace ends at the latest: then this worker may claim it to fail it.
  if (o.passOver?.(task, performance.now() + Math.min(PASSED_OVER_FOR_MS, graceLeftMs))) return { kind: 'snoozed', delayMs: 0, handedBack: true };
  return { kind: 'snoozed', delayMs: UNKNOWN_TASK_SNOOZE_MS, handedBack: true };
}

/**
 * Every failure goes through here (and a cancellation's error through recordable()): what a
 * handler supplied, a message naming its own key included, must be text PostgreSQL stores, or
 * recording the failure fails in turn and the task stays RUNNING until the rescuer calls it lost.
 */
function failed(error: AttemptError, retryable: boolean): Outcome {
  return { kind: 'failed', error: recordable(error), retryable };
}

/** Clipped and storable (no NUL, no lone surrogate), whoever made the error. */
function recordable(error: AttemptError): AttemptError {
  return {
    exceptionType: text(error.exceptionType, MAX_TYPE),
    message: text(error.message, MAX_MESSAGE),
    traceback: error.traceback === null ? null : text(error.traceback, MAX_TRACEBACK),
  };
}

/**
 * Whether what a cancelled handler rejected with is the abort itself rather than an error of its
 * own: the signal's reason (the string 'cancel', which fetch(url, { signal }) and
 * signal.throwIfAborted() reject with as it is), an AbortError or TimeoutError, or an error caused
 * by the reason (Node's timers/promises and events.once wrap it so; a handler may too).
 */
function isAbort(error: unknown, reason: AbortReason): boolean {
  if (error === reason) return true;
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError' || error.cause === reason);
}

const MAX_TYPE = 200;
const MAX_MESSAGE = 10_000;
const MAX_TRACEBACK = 50_000;
/** Causes told in a traceback: enough for a wrapped wrapper, bounded for a cause chain that loops. */
const MAX_CAUSES = 3;

/**
 * A readable error for anything a handler can throw: Errors (their causes told in the
 * traceback), strings, undefined, cyclic objects. Clipped and storable only once failed() or
 * recordable() has it.
 */
export function describeError(error: unknown): AttemptError {
  try {
    if (error instanceof Error) {
      const causes = describeCauses(error) + describeAggregated(error);
      return {
        exceptionType: errorType(error),
        message: String(error.message),
        traceback: error.stack || causes ? `${error.stack ? String(error.stack) : ''}${causes}` : null,
      };
    }
    return { exceptionType: nonErrorType(error), message: nonErrorMessage(error), traceback: null };
  } catch {
    // A getter on the thrown value threw, or a Proxy did: still an error to record.
    return { exceptionType: 'UndescribableError', message: 'The handler threw a value that could not be described', traceback: null };
  }
}

/**
 * The error's class: `name` unless a subclass left it at the inherited 'Error' (`class MyError
 * extends Error {}` never sets it), then the subclass's own name, as the stack's reader expects.
 */
function errorType(error: Error): string {
  const name = String(error.name || 'Error');
  if (name !== 'Error') return name;
  const constructorName: unknown = (error.constructor as { name?: unknown } | undefined)?.name;
  return error.constructor !== Error && typeof constructorName === 'string' && constructorName !== '' ? constructorName : name;
}

function nonErrorType(error: unknown): string {
  return `NonError(${error === null ? 'null' : typeof error})`;
}

function nonErrorMessage(error: unknown): string {
  return typeof error === 'string' ? error : inspect(error, { depth: 4, breakLength: Infinity });
}

/** `error.cause` and its causes, MAX_CAUSES at most, as lines to append to the traceback. */
function describeCauses(error: Error): string {
  let told = '';
  let current: Error = error;
  try {
    for (let depth = 0; depth < MAX_CAUSES; depth++) {
      if (!('cause' in current)) return told;
      const cause: unknown = current.cause;
      told += `\nCaused by: ${tracebackEntry(cause)}`;
      if (!(cause instanceof Error)) return told;
      current = cause;
    }
    return 'cause' in current ? `${told}\nCaused by: … (further causes not shown)` : told;
  } catch {
    // A cause behind a throwing getter: the error itself is still worth recording.
    return `${told}\nCaused by: (a cause that could not be described)`;
  }
}

/**
 * One error told inside another's traceback (a cause, an aggregated error): its stack, which starts
 * with `name: message` (a subclass that kept the name 'Error' is named before it), or a non-Error's
 * type and text.
 */
function tracebackEntry(e: unknown): string {
  if (!(e instanceof Error)) return `${nonErrorType(e)}: ${nonErrorMessage(e)}`;
  const type = errorType(e);
  const stack = e.stack ? String(e.stack) : `${type}: ${String(e.message)}`;
  return stack.startsWith(`${type}:`) ? stack : `[${type}] ${stack}`;
}

/** Most errors of an AggregateError told in its traceback. */
const MAX_AGGREGATED = 10;

/** An AggregateError's `errors` (Promise.any's rejections …), as lines to append to the traceback. */
function describeAggregated(error: Error): string {
  if (!(error instanceof AggregateError)) return '';
  try {
    const errors: unknown[] = Array.isArray(error.errors) ? error.errors : [];
    let told = '';
    errors.slice(0, MAX_AGGREGATED).forEach((e, i) => {
      told += `\nAggregated [${i}]: ${tracebackEntry(e)}`;
    });
    return errors.length > MAX_AGGREGATED ? `${told}\nAggregated: … (${errors.length - MAX_AGGREGATED} more)` : told;
  } catch {
    return '\nAggregated: (errors that could not be described)';
  }
}

function text(value: string, max: number): string {
  const clipped = value.length > max ? `${value.slice(0, max)}… (${value.length - max} more characters)` : value;
  return storableText(clipped);
}
