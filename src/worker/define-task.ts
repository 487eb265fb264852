import type { z } from 'zod';
import type { ArgumentsCheck, TaskSpec } from '../queue/catalog.js';
import type { JsonObject, JsonValue } from '../queue/json.js';
import { checkBackoff } from '../queue/backoff.js';
import { checkQueueName, type EnqueueInput } from '../queue/enqueue.js';
import type { Backoff } from '../queue/task.js';
import { declaredSchedules, type DeclaredSchedule, type ScheduleDeclaration } from './declared-schedules.js';

/**
 * One level of `ctx.log`: a message then fields (`info('sent', { to })`), or pino's order, the
 * fields first and the message after or none (`info({ to }, 'sent')`, `error(err, 'failed')`).
 */
export interface TaskLogMethod {
  (msg: string, extra?: Record<string, unknown>): void;
  (obj: Record<string, unknown> | Error, msg?: string): void;
}

/** Log lines of a handler carry its task id, attempt and worker id. */
export interface TaskLogger {
  debug: TaskLogMethod;
  info: TaskLogMethod;
  warn: TaskLogMethod;
  error: TaskLogMethod;
}

export interface ProgressUpdate {
  current?: number;
  total?: number;
  message?: string;
}

/** What a handler gets besides its arguments. */
export interface TaskContext<K = JsonObject> {
  /** Fires on timeout, on cancellation and on a forced shutdown. Handlers should stop soon after. */
  signal: AbortSignal;
  /** Reports progress; stored and announced to subscribers. Calls are coalesced (latest wins). A write the database refused is tried again while it is away (up to three leases); the promise resolves once stored or given up, and never rejects. */
  progress(update: ProgressUpdate): Promise<void>;
  /**
   * Writes one chunk of output (any JSON value, e.g. a token, a log line, a partial result):
   * stored as an OUTPUT event of the task, after the attempt's earlier chunks, and announced to
   * subscribers. Resolves once stored; awaiting it is optional, the order is kept either way.
   * A task's output is capped (MAX_OUTPUT_BYTES, over all attempts): the chunk that would go
   * over becomes one `{"truncated": true}` marker, and later chunks are dropped.
   * @throws OutputChunkTooLargeError (at the call) when the chunk is over 64 KiB of JSON
   * @throws OutputChunkReservedError (at the call) when the chunk is exactly `{"truncated": true}`,
   *   the cap's marker (so that the marker in a log is always the cap's)
   * @throws JsonEncodeError (at the call) when the chunk is not JSON (a BigInt, a cycle, NaN …)
   */
  output(chunk: unknown): Promise<void>;
  /**
   * Whether this attempt's output takes no more chunks: the task's output reached MAX_OUTPUT_BYTES
   * (a chunk became the truncation marker, or earlier attempts filled it), a write was given up for
   * good, or the attempt was found no longer running here. `output` still resolves for a chunk it
   * drops; a handler that streams what costs it to make (tokens) reads this to stop. A cancel or a
   * timeout shows in `signal`, not here.
   */
  readonly outputEnded: boolean;
  /**
   * Run again in `ms` ms without using up an attempt (e.g. an outside API answered 429): the
   * task waits again (PENDING, or RETRYING when earlier attempts are on record) with a SNOOZED
   * event, and max_attempts is untouched. Throws, so the handler stops here; the attempt ends
   * snoozed even if the handler catches that. See docs/flow-control.md "Snooze".
   * @throws TypeError when `ms` is not a number of 0..MAX_SNOOZE_MS (the attempt then fails as usual)
   */
  retryAfter(ms: number): never;
  /** The same as `retryAfter`. */
  snooze(ms: number): never;
  /** 1 for the first attempt. */
  attempt: number;
  taskId: string;
  workerId: string;
  kwargs: K;
  log: TaskLogger;
  /**
   * A workflow step's parents' return values, by step ref (empty outside a workflow). A parent
   * that FAILED or was CANCELLED (which only a RUN_ANYWAY step runs after) reads as null.
   */
  dependencies: Readonly<Record<string, JsonValue | null>>;
}

type ArgsOf<S> = S extends z.ZodType ? z.output<S> : unknown[];
type KwargsOf<S> = S extends z.ZodType ? z.output<S> : JsonObject;
/** What enqueue may be given: the schema's input (before defaults and transforms), as the check at enqueue takes it. */
type ArgsIn<S> = S extends z.ZodType ? z.input<S> : unknown[];
type KwargsIn<S> = S extends z.ZodType ? z.input<S> : Record<string, unknown>;

export interface TaskDefinitionInput<A extends z.ZodType | undefined, K extends z.ZodType | undefined, R> {
  name: string;
  /** Schema of the positional arguments (a JSON array), e.g. `z.tuple([z.number(), z.number()])`. */
  args?: A;
  /** Schema of the keyword arguments (a JSON object). */
  kwargs?: K;
  run: (args: ArgsOf<A>, ctx: TaskContext<KwargsOf<K>>) => Promise<R> | R;
  /** Attempts in all (default 1: retries are asked for). */
  maxAttempts?: number;
  backoff?: Partial<Backoff>;
  /** Abort the attempt after this many ms (default: none). */
  timeoutMs?: number;
  /** Default queue (default `default`). */
  queue?: string;
  /** -100..100, higher first (default 0). */
  priority?: number;
  /** Keep the finished task this long, in ms (default: RESULT_TTL_MS). */
  resultTtl?: number;
  /**
   * Run it on a cron schedule (or several, each with its own `key`): upserted by every worker at
   * start, a runtime pause kept (docs/schedules.md). Default: none.
   */
  schedule?: ScheduleDeclaration | readonly ScheduleDeclaration[];
}

const DEFINITION = Symbol.for('taskwire.definition');

/**
 * A defined task: a TaskSpec the queue can validate against, plus the handler. Its type parameters
 * are what enqueue takes (`A` the positional arguments, `K` the keyword arguments) and what the
 * handler returns (`R`), read with TaskArgs/TaskKwargs/TaskResult and used by taskInput; the
 * defaults are any task's.
 */
export interface TaskDefinition<A = unknown[], K = Record<string, unknown>, R = unknown> extends TaskSpec {
  /** Types only, never set at run time (the `~` keeps it last in completions, as Standard Schema's `~standard`). */
  readonly '~types'?: { readonly args: A; readonly kwargs: K; readonly result: R };
  readonly [DEFINITION]: true;
  /** Parses raw stored arguments; the worker calls it before `run`. */
  parse(args: unknown[], kwargs: Record<string, unknown>): { args: unknown; kwargs: unknown };
  run(args: unknown, ctx: TaskContext<unknown>): Promise<unknown>;
  /** The schedules declared beside it (`schedule`), defaults filled in; empty when none. */
  readonly schedules: readonly DeclaredSchedule[];
}

/**
 * Defines a task. `args`/`kwargs` schemas are checked at enqueue (INVALID_ARGUMENTS with
 * the failing path, nothing stored) and parsed again before each run.
 * @throws ConfigError naming the task and the field (`schedule[1].key`) on a malformed `schedule`:
 * a module of TASK_MODULES defining it stops its process (exit 2, one line)
 * @throws BadUserInputError (field `<name>: backoff.<setting>`) on a backoff out of range, (field
 * `<name>: queue`) on a queue name enqueue would refuse (edge whitespace, a comma, a control character…)
 */
export function defineTask<A extends z.ZodType | undefined = undefined, K extends z.ZodType | undefined = undefined, R = unknown>(
  input: TaskDefinitionInput<A, K, R>,
): TaskDefinition<ArgsIn<A>, KwargsIn<K>, Awaited<R>> {
  const check = (schema: z.ZodType | undefined, value: unknown, root: string): ArgumentsCheck => {
    if (!schema) return { ok: true };
    const result = schema.safeParse(value);
    if (result.success) return { ok: true };
    const issue = result.error.issues[0];
    const path = (issue?.path ?? []).reduce<string>(
      (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`),
      root,
    );
    return { ok: false, path, message: issue?.message ?? 'invalid' };
  };
  return {
    [DEFINITION]: true,
    name: input.name,
    // Checked now as enqueue checks it (a queue no worker could select), where the definition is written.
    queue: input.queue === undefined ? undefined : checkQueueName(input.queue, `${input.name}: queue`),
    priority: input.priority,
    maxAttempts: input.maxAttempts,
    timeoutMs: input.timeoutMs,
    resultTtlMs: input.resultTtl,
    // Checked now, so that a bad definition fails where it is written, not at each retry.
    backoff: input.backoff === undefined ? undefined : checkBackoff(input.backoff, `${input.name}: backoff`),
    schedules: declaredSchedules(input, input.schedule),
    checkArguments(args, kwargs) {
      const a = check(input.args, args, 'args');
      return a.ok ? check(input.kwargs, kwargs, 'kwargs') : a;
    },
    parse(args, kwargs) {
      return {
        args: input.args ? input.args.parse(args) : args,
        kwargs: input.kwargs ? input.kwargs.parse(kwargs) : kwargs,
      };
    },
    async run(args, ctx) {
      return input.run(args as ArgsOf<A>, ctx as TaskContext<KwargsOf<K>>);
    },
  };
}

/** The positional arguments enqueue takes for a definition: `TaskArgs<typeof resizeImage>`. */
export type TaskArgs<D> = D extends TaskDefinition<infer A, unknown, unknown> ? A : never;
/** The keyword arguments enqueue takes for a definition. */
export type TaskKwargs<D> = D extends TaskDefinition<unknown[], infer K, unknown> ? K : never;
/**
 * What a definition's handler returns (awaited). The stored result is its JSON: a Date in it reads
 * back as a string, a Map as `{}` (as JSON.stringify writes them).
 */
export type TaskResult<D> = D extends TaskDefinition<unknown[], Record<string, unknown>, infer R> ? R : never;

/** TaskInput's options: everything of an EnqueueInput but what the definition gives (name) and types (args, kwargs). */
export type TaskInputOptions<K = Record<string, unknown>> = Omit<EnqueueInput, 'name' | 'args' | 'kwargs'> & { kwargs?: K };

/**
 * An EnqueueInput for `definition`, whose arguments the compiler checks against its schemas:
 * `queue.enqueue(taskInput(resizeImage, ['a.png', 640]))` (the queue still checks them at enqueue).
 * The types come from the definition alone (NoInfer): inferred from `args` too, they widened to what
 * the call passed (an enum's member to any string, a tuple to a longer one), and a wrong call compiled.
 */
export function taskInput<A, K, R>(definition: TaskDefinition<A, K, R>, args: NoInfer<A>, options: TaskInputOptions<NoInfer<K>> = {}): EnqueueInput {
  return { ...options, name: definition.name, args: args as unknown[], kwargs: options.kwargs as Record<string, unknown> | undefined };
}

export function isTaskDefinition(value: unknown): value is TaskDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[DEFINITION] === true;
}
