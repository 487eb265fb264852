import { silentLogger, type Logger } from '../logger.js';
import type { JsonValue } from '../queue/json.js';
import type { Task, TaskError } from '../queue/task.js';
import { uuidv7 } from '../queue/uuid.js';
import type { ProgressUpdate, TaskArgs, TaskDefinition, TaskKwargs, TaskResult } from './define-task.js';
import { executeTask, type Outcome } from './execute-task.js';
import { RunningAttempt } from './held-tasks.js';
import { encodeOutputChunk } from './output-writer.js';
import { RUNNER_DEFAULTS } from './runner-options.js';

export interface HandlerRunOptions<D extends TaskDefinition> {
  /** The keyword arguments, as enqueue takes them (the definition's schema parses them, defaults filled in). */
  kwargs?: TaskKwargs<D>;
  /** `ctx.attempt` (default 1). */
  attempt?: number;
  /** The task's attempts in all (default the definition's, else 1): with `attempt`, whether a failure would be retried. */
  maxAttempts?: number;
  /** `ctx.taskId` (default a new id). */
  taskId?: string;
  /** The attempt's timeout in ms (default the definition's): past it `ctx.signal` aborts and the attempt fails TimeoutError. */
  timeoutMs?: number;
  /** `ctx.dependencies`: a workflow step's parents' results by step ref. */
  dependencies?: Readonly<Record<string, JsonValue | null>>;
  /** Aborted: the attempt is cancelled, as a cancelTask of a running task does (`ctx.signal` aborts with 'cancel'). */
  signal?: AbortSignal;
  /** `ctx.log`'s parent (default silent). */
  log?: Logger;
  /** After an abort, how long the handler gets to stop (default the worker's, 5 s). */
  abandonAfterMs?: number;
  /** The largest result's JSON (default the worker's MAX_RESULT_BYTES default, 1 MiB). */
  maxResultBytes?: number;
}

/** What a value is once stored as JSON and read back: a Date is its ISO string, a Map or a class instance its plain fields. */
export type Jsonified<T> = T extends Date
  ? string
  : T extends string | number | boolean | null
    ? T
    : T extends undefined | ((...args: never[]) => unknown) | symbol
      ? never
      : T extends readonly (infer U)[]
        ? Jsonified<U>[]
        : T extends object
          ? { [K in keyof T]: Jsonified<T[K]> }
          : JsonValue;

interface HandlerRunBase {
  /** Every `ctx.progress` call, in order (a worker stores the latest). */
  progress: ProgressUpdate[];
  /** Every `ctx.output` chunk, in order, its JSON read back (as subscribers get it). */
  output: JsonValue[];
}

/**
 * What one run of a handler came to, as a worker would have recorded it; `outcome` tells which fields
 * there are. `R` is the handler's result as stored (Jsonified: its JSON read back, as a client reads it).
 */
export type HandlerRun<R = JsonValue> = HandlerRunBase &
  (
    | { outcome: 'succeeded'; result: R }
    /** The error as `errors[]` holds it; `retryable`: whether a worker would try again (an error that allows it, and attempts left). */
    | { outcome: 'failed'; error: Pick<TaskError, 'exceptionType' | 'message' | 'traceback'>; retryable: boolean }
    /** The delay asked for with `ctx.snooze` / `ctx.retryAfter`. */
    | { outcome: 'snoozed'; snoozedMs: number }
    /** With the handler's error when it threw one that was not the abort. */
    | { outcome: 'cancelled'; error?: Pick<TaskError, 'exceptionType' | 'message' | 'traceback'> }
  );

/**
 * Runs `definition`'s handler once as a worker runs it — its schemas' parse, `ctx` (signal,
 * progress, output with its checks, snooze, log, attempt, dependencies), its timeout, a
 * cancellation, the result's JSON and size limit, NonRetryableError — with no database and no
 * worker: for unit tests of handlers (Celery's `task.apply()`). What it does not do is store
 * anything or retry: `retryable` says whether a worker would. docs/testing.md.
 */
export async function runHandler<D extends TaskDefinition>(
  definition: D,
  args: TaskArgs<D>,
  options: HandlerRunOptions<D> = {},
): Promise<HandlerRun<Jsonified<TaskResult<D>>>> {
  const progress: ProgressUpdate[] = [];
  const output: JsonValue[] = [];
  const attempt = new RunningAttempt(handlerTask(definition, args as unknown[], options));
  const cancel = (): void => attempt.abort('cancel');
  if (options.signal?.aborted) cancel();
  options.signal?.addEventListener('abort', cancel, { once: true });
  let outcome: Outcome;
  try {
    outcome = await executeTask(
      {
        workerId: 'runHandler',
        log: options.log ?? silentLogger,
        abandonAfterMs: options.abandonAfterMs ?? RUNNER_DEFAULTS.abandonAfterMs,
        maxResultBytes: options.maxResultBytes ?? RUNNER_DEFAULTS.maxResultBytes,
        progress: () => async (update) => void progress.push(update),
        // Not async: a chunk that is not JSON, too large or the reserved marker throws at the call, as the worker's.
        output: () => (chunk) => {
          output.push(JSON.parse(encodeOutputChunk(chunk)) as JsonValue);
          return Promise.resolve();
        },
        outputEnded: () => false,
        ...(options.dependencies ? { dependencies: async () => options.dependencies as Readonly<Record<string, JsonValue | null>> } : {}),
      },
      attempt,
      definition,
    );
  } finally {
    options.signal?.removeEventListener('abort', cancel);
  }
  const run = { progress, output };
  switch (outcome.kind) {
    case 'succeeded':
      return { outcome: 'succeeded', result: JSON.parse(outcome.returnValue) as Jsonified<TaskResult<D>>, ...run };
    case 'failed':
      // What a worker does next: another attempt only for an error that allows one and attempts left.
      return { outcome: 'failed', error: outcome.error, retryable: outcome.retryable && attempt.task.attempts < attempt.task.maxAttempts, ...run };
    case 'snoozed':
      return { outcome: 'snoozed', snoozedMs: outcome.delayMs, ...run };
    case 'cancelled':
      return { outcome: 'cancelled', ...(outcome.error ? { error: outcome.error } : {}), ...run };
    default:
      // released and lost need a worker's shutdown or a rescue, which this never does.
      throw new Error(`runHandler: unexpected outcome ${outcome.kind}`);
  }
}

/** The task a worker would have claimed for this run (RUNNING, its attempt counted). */
function handlerTask(definition: TaskDefinition, args: unknown[], o: HandlerRunOptions<TaskDefinition>): Task {
  const now = new Date();
  const dependsOn = o.dependencies ? Object.keys(o.dependencies) : [];
  return {
    id: o.taskId ?? uuidv7(),
    name: definition.name,
    queue: definition.queue ?? 'default',
    priority: definition.priority ?? 0,
    args: args as JsonValue[],
    kwargs: (o.kwargs ?? {}) as Task['kwargs'],
    status: 'RUNNING',
    version: 2,
    attempts: o.attempt ?? 1,
    maxAttempts: o.maxAttempts ?? definition.maxAttempts ?? 1,
    runAfter: now,
    enqueuedAt: now,
    startedAt: now,
    finishedAt: null,
    lastAttemptedAt: now,
    workerIds: ['runHandler'],
    errors: [],
    returnValue: null,
    progress: null,
    lockedBy: 'runHandler',
    leaseExpiresAt: null,
    idempotencyKey: null,
    expiresAt: null,
    cancelRequested: false,
    timeoutMs: o.timeoutMs ?? null,
    resultTtlMs: null,
    backoff: null,
    outputBytes: 0,
    tenant: 'default',
    createdBy: null,
    concurrencyKey: null,
    workflowId: null,
    stepRef: null,
    dependsOn,
    dependents: [],
    waitingParents: null,
    onDependencyFailure: null,
    scheduledFor: null,
    scheduleId: null,
  };
}
