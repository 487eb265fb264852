import { BadUserInputError, ConflictError, InvalidArgumentsError, UnknownTaskError } from '../errors.js';
import type { Executor } from '../db/client.js';
import { checkBackoff } from './backoff.js';
import { requireStorableDate } from './dates.js';
import type { TaskCatalog } from './catalog.js';
import { encodeJson, isJsonObject, isStorableText, JsonEncodeError } from './json.js';
import { getTasksByIdempotencyKeys, insertTasks, type NewTaskRow } from './sql/insert-tasks.js';
import type { Backoff, Task } from './task.js';
import { uuidv7 } from './uuid.js';

/** What a caller asks for. Unset options fall back to the task definition, then defaults. */
export interface EnqueueInput {
  name: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  queue?: string;
  /** -100..100, higher runs first. */
  priority?: number;
  runAfter?: Date;
  maxAttempts?: number;
  idempotencyKey?: string;
  timeoutMs?: number;
  resultTtlMs?: number;
  backoff?: Partial<Backoff>;
}

export interface EnqueueLimits {
  /** Largest args + kwargs, in bytes of JSON. */
  maxArgsBytes: number;
}

const MAX_NAME = 200;
const MAX_QUEUE = 100;
const MAX_KEY = 255;
const MAX_ATTEMPTS = 1000;

/**
 * Validates one input against the catalog. Errors name the field (`<prefix>name`,
 * `<prefix>args[1].x`, …) so a caller can point at it.
 */
export function prepareTask(catalog: TaskCatalog, input: EnqueueInput, limits: EnqueueLimits, prefix = ''): NewTaskRow {
  const f = (field: string): string => `${prefix}${field}`;
  if (typeof input.name !== 'string' || input.name.length === 0 || input.name.length > MAX_NAME) {
    throw new BadUserInputError(`${f('name')} must be a non-empty string of at most ${MAX_NAME} characters`, { field: f('name') });
  }
  const spec = catalog.get(input.name);
  if (!spec) throw new UnknownTaskError(input.name, { field: f('name') });

  const args = input.args ?? [];
  const kwargs = input.kwargs ?? {};
  if (!Array.isArray(args)) throw new InvalidArgumentsError(`${f('args')} must be a JSON array`, { field: f('args') });
  if (!isJsonObject(kwargs)) throw new InvalidArgumentsError(`${f('kwargs')} must be a JSON object`, { field: f('kwargs') });
  const argsJson = encodeArgument(args, f('args'));
  const kwargsJson = encodeArgument(kwargs, f('kwargs'));
  // A Date or a Map is an object too, but does not encode as one (the table's CHECK would refuse it).
  if (!argsJson.startsWith('[')) throw new InvalidArgumentsError(`${f('args')} must encode as a JSON array`, { field: f('args') });
  if (!kwargsJson.startsWith('{')) throw new InvalidArgumentsError(`${f('kwargs')} must be a plain JSON object`, { field: f('kwargs') });
  if (argsJson.length + kwargsJson.length > limits.maxArgsBytes) {
    throw new InvalidArgumentsError(`${f('args')} and ${f('kwargs')} together exceed ${limits.maxArgsBytes} bytes of JSON`, {
      field: f('args'),
    });
  }
  const check = spec.checkArguments(args, kwargs as Record<string, unknown>);
  if (!check.ok) {
    const field = `${prefix}${check.path}`;
    throw new InvalidArgumentsError(`Invalid arguments for ${input.name}: ${field}: ${check.message}`, { field });
  }

  const queue = input.queue ?? spec.queue ?? 'default';
  if (typeof queue !== 'string' || queue.length === 0 || queue.length > MAX_QUEUE) {
    throw new BadUserInputError(`${f('queue')} must be a non-empty string of at most ${MAX_QUEUE} characters`, { field: f('queue') });
  }
  requireStorable(queue, f('queue'));
  const priority = input.priority ?? spec.priority ?? 0;
  requireInt(priority, -100, 100, f('priority'));
  const maxAttempts = input.maxAttempts ?? spec.maxAttempts ?? 1;
  requireInt(maxAttempts, 1, MAX_ATTEMPTS, f('maxAttempts'));
  const timeoutMs = input.timeoutMs ?? null;
  if (timeoutMs !== null) requireInt(timeoutMs, 1, 2_147_483_647, f('timeoutMs'));
  const resultTtlMs = input.resultTtlMs ?? spec.resultTtlMs ?? null;
  if (resultTtlMs !== null) requireInt(resultTtlMs, 0, Number.MAX_SAFE_INTEGER, f('resultTtlMs'));
  if (input.runAfter !== undefined && !(input.runAfter instanceof Date && !Number.isNaN(input.runAfter.getTime()))) {
    throw new BadUserInputError(`${f('runAfter')} must be a valid date`, { field: f('runAfter') });
  }
  if (input.runAfter !== undefined) requireStorableDate(input.runAfter, f('runAfter'));
  const key = input.idempotencyKey ?? null;
  if (key !== null && (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY)) {
    throw new BadUserInputError(`${f('idempotencyKey')} must be a non-empty string of at most ${MAX_KEY} characters`, {
      field: f('idempotencyKey'),
    });
  }
  if (key !== null) requireStorable(key, f('idempotencyKey'));
  const backoff = input.backoff !== undefined ? checkBackoff(input.backoff, f('backoff')) : (spec.backoff ?? null);
  return {
    id: uuidv7(),
    name: input.name,
    queue,
    priority,
    args: argsJson,
    kwargs: kwargsJson,
    maxAttempts,
    runAfter: input.runAfter?.toISOString() ?? null,
    idempotencyKey: key,
    timeoutMs,
    resultTtlMs,
    backoff: backoff ? (backoff as Backoff) : null,
  };
}

/**
 * Stores tasks (one statement) and announces them. On an executor that is a transaction,
 * the tasks and their notifications appear only if it commits. Same idempotency key as
 * an existing task: that task is returned instead (CONFLICT if it is another task name).
 * Returns tasks in input order.
 */
export async function enqueueTasks(
  exec: Executor,
  catalog: TaskCatalog,
  inputs: readonly EnqueueInput[],
  limits: EnqueueLimits,
): Promise<Task[]> {
  const rows = inputs.map((input, i) => prepareTask(catalog, input, limits, inputs.length > 1 ? `[${i}].` : ''));
  const inserted = await insertTasks(exec, rows);
  const byId = new Map(inserted.map((t) => [t.id, t]));
  const missingKeys = rows.filter((r) => !byId.has(r.id) && r.idempotencyKey !== null).map((r) => r.idempotencyKey as string);
  const existing = new Map((await getTasksByIdempotencyKeys(exec, missingKeys)).map((t) => [t.idempotencyKey, t]));
  return rows.map((row) => {
    const task = byId.get(row.id) ?? existing.get(row.idempotencyKey);
    if (!task) throw new Error(`Task ${row.id} was neither inserted nor found by its idempotency key`);
    if (task.name !== row.name) {
      throw new ConflictError(
        `idempotencyKey "${row.idempotencyKey}" already belongs to a task named "${task.name}", not "${row.name}"`,
        { field: 'idempotencyKey' },
      );
    }
    return task;
  });
}

function encodeArgument(value: unknown, field: string): string {
  try {
    return encodeJson(value, field);
  } catch (error) {
    if (error instanceof JsonEncodeError) throw new InvalidArgumentsError(error.message, { field: error.path, cause: error });
    throw error;
  }
}

/**
 * Text columns refuse a NUL character (the INSERT failed: an internal error for what is bad
 * input, found by test/reliability/hostile-input.test.ts), and a lone surrogate would be stored
 * as U+FFFD, so that two different idempotency keys could name one task.
 */
function requireStorable(value: string, field: string): void {
  if (!isStorableText(value)) {
    throw new BadUserInputError(`${field} must not contain a NUL character or a lone surrogate`, { field });
  }
}

function requireInt(value: unknown, min: number, max: number, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BadUserInputError(`${field} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`, { field });
  }
}
