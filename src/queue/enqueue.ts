import { AppError, BadUserInputError, ConflictError, ForbiddenError, InvalidArgumentsError, UnknownTaskError } from '../errors.js';
import type { Executor } from '../db/client.js';
import { checkBackoff, DEFAULT_BACKOFF } from './backoff.js';
import { MAX_RESULT_TTL_MS, requireStorableDate } from './dates.js';
import type { TaskCatalog } from './catalog.js';
import { encodeJson, isJsonObject, isStorableText, JsonEncodeError } from './json.js';
import {
  DEFAULT_TENANT,
  getTasksByIdempotencyKeys,
  insertTasks,
  KEY_CONFLICT_SQLSTATE,
  newTask,
  type KeyConflicts,
  type NewTaskRow,
  type TenantKey,
} from './sql/insert-tasks.js';
import { DUE_PREFIX } from './due-notice.js';
import type { EnqueueBatcher } from './enqueue-batcher.js';
import { QUEUE_CONTROL_PREFIX } from './queue-control/channel.js';
import type { Backoff, Task } from './task.js';
import { uuidv7 } from './uuid.js';

// Its home is dates.ts (it bounds a date), where the CLI reads it without the rest of the core.
export { MAX_RESULT_TTL_MS };

/**
 * The enqueue's backoff settings over the definition's. A `baseMs` given without `maxMs` raises the
 * ceiling it would be cut to (the definition's `maxMs`, else the default's) to itself: `{ baseMs:
 * 30000, factor: 1 }` on a task whose definition caps retries at 2 s retried every 2 s, silently.
 */
function withBackoff(definition: Partial<Backoff> | undefined, given: Partial<Backoff>): Partial<Backoff> {
  const merged = { ...definition, ...given };
  if (given.baseMs !== undefined && given.maxMs === undefined && (merged.maxMs ?? DEFAULT_BACKOFF.maxMs) < given.baseMs) merged.maxMs = given.baseMs;
  return merged;
}

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
  /**
   * The task's tenant (default: the queue's `writeTenant`, 'default' for the unscoped queue).
   * Only a queue that sees every tenant (`readTenant` null) may name another one than its own.
   */
  tenant?: string;
  /**
   * Whose turn the task shares, e.g. a customer id (1..255 characters): a queue's
   * perKeyConcurrency caps how many tasks of one key run at once (docs/flow-control.md).
   */
  concurrencyKey?: string;
}

/**
 * What a queue is limited to (Queue.scoped): whose tasks it reads and as whom it enqueues.
 * The unscoped queue is `UNSCOPED`: every tenant, enqueues as 'default' (or EnqueueInput.tenant).
 */
export interface QueueScope {
  /** The only tenant whose tasks are visible; null: every tenant. Another tenant's id reads as an unknown one. */
  readTenant: string | null;
  /** The tenant of the tasks it enqueues (unless EnqueueInput.tenant names one and `readTenant` is null). */
  writeTenant: string;
  /** Recorded as each new task's `createdBy` (a principal id; null: nobody in particular). */
  createdBy: string | null;
}

/** The unscoped queue's scope: sees every tenant, enqueues as 'default', records no creator. */
export const UNSCOPED: QueueScope = Object.freeze({ readTenant: null, writeTenant: DEFAULT_TENANT, createdBy: null });

export interface EnqueueLimits {
  /** Largest args + kwargs, in bytes of JSON. */
  maxArgsBytes: number;
}

const MAX_NAME = 200;
const MAX_QUEUE = 100;
/** Payload prefixes of the jobs channel's control messages (src/worker/runner.ts onJobsNotification). */
const RESERVED_QUEUE_PREFIXES = ['cancel:', QUEUE_CONTROL_PREFIX, DUE_PREFIX] as const;

/**
 * Why `queue` cannot be a queue's name, or undefined: the jobs channel carries a queue name to wake
 * its workers, or a control message, and a queue named like one (`cancel:<task id>`,
 * `queue-control:paused:<queue>`, `due:<ms>:<queue>`) would cancel, pause or wake another queue on every worker.
 */
export function reservedQueueName(queue: string): string | undefined {
  if (!RESERVED_QUEUE_PREFIXES.some((reserved) => queue.startsWith(reserved))) return undefined;
  return `must not start with ${RESERVED_QUEUE_PREFIXES.map((r) => `"${r}"`).join(' or ')} (reserved for worker notifications), got "${queue}"`;
}

/**
 * Why `queue` (a string of 1 to 100 characters) cannot be a queue's name, or undefined. Besides the
 * reserved prefixes (reservedQueueName), a name no worker could select or show is refused:
 * - leading or trailing whitespace: workers' `--queues` / `WORKER_QUEUES` are trimmed (String#trim, the
 *   same whitespace as here), so `" images"` would be a queue apart from `images` that only a worker of
 *   every queue runs;
 * - a comma: those lists are split on commas, so `"a,b"` could never be named in one;
 * - a control character (`\p{Cc}`: C0, DEL, C1; newlines, tabs, ESC), as principal.ts isTenant refuses
 *   them: a queue name is printed in `taskwire stats`/`queues` tables, logs and metric labels, where
 *   a newline splits a row and an escape sequence drives the terminal.
 * Only new names are checked (enqueue, queue control, defineTask): tasks already in such a queue run on.
 */
export function queueNameProblem(queue: string): string | undefined {
  if (queue.trim() !== queue) return `must not start or end with whitespace (worker queue lists are trimmed), got ${JSON.stringify(queue)}`;
  if (queue.includes(',')) return `must not contain a comma (worker queue lists are comma-separated), got ${JSON.stringify(queue)}`;
  if (/\p{Cc}/u.test(queue)) return `must not contain control characters (newlines, tabs, escapes), got ${JSON.stringify(queue)}`;
  return reservedQueueName(queue);
}

/**
 * `queue` if a new task may be put in it (1 to 100 characters, storable, no queueNameProblem).
 * @throws BadUserInputError naming `field` otherwise
 */
export function checkQueueName(queue: unknown, field: string): string {
  if (typeof queue !== 'string' || queue.length === 0 || queue.length > MAX_QUEUE) {
    throw new BadUserInputError(`${field} must be a non-empty string of at most ${MAX_QUEUE} characters`, { field });
  }
  requireStorable(queue, field);
  const problem = queueNameProblem(queue);
  if (problem) throw new BadUserInputError(`${field} ${problem}`, { field });
  return queue;
}

const MAX_KEY = 255;
const MAX_ATTEMPTS = 1000;
/** Longest tenant name, in characters. */
export const MAX_TENANT = 200;

/**
 * Validates one input against the catalog. Errors name the field (`<prefix>name`,
 * `<prefix>args[1].x`, …) so a caller can point at it.
 */
export function prepareTask(
  catalog: TaskCatalog,
  input: EnqueueInput,
  limits: EnqueueLimits,
  scope: QueueScope = UNSCOPED,
  prefix = '',
): NewTaskRow {
  // From JavaScript anything may come: a null among many inputs is that input's refusal, named by its index.
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    const field = prefix.endsWith('.') ? prefix.slice(0, -1) : 'input';
    throw new BadUserInputError(`${field} must be an object with a task name`, { field });
  }
  if (typeof input.name !== 'string' || input.name.length === 0 || input.name.length > MAX_NAME) {
    throw new BadUserInputError(`${prefix}name must be a non-empty string of at most ${MAX_NAME} characters`, { field: `${prefix}name` });
  }
  const spec = catalog.get(input.name);
  if (!spec) throw new UnknownTaskError(input.name, { field: `${prefix}name` });

  const args = input.args ?? [];
  const kwargs = input.kwargs ?? {};
  if (!Array.isArray(args)) throw new InvalidArgumentsError(`${prefix}args must be a JSON array`, { field: `${prefix}args` });
  if (!isJsonObject(kwargs)) throw new InvalidArgumentsError(`${prefix}kwargs must be a JSON object`, { field: `${prefix}kwargs` });
  const argsJson = encodeArgument(args, `${prefix}args`);
  const kwargsJson = encodeArgument(kwargs, `${prefix}kwargs`);
  // A Date or a Map is an object too, but does not encode as one (the table's CHECK would refuse it).
  if (!argsJson.startsWith('[')) throw new InvalidArgumentsError(`${prefix}args must encode as a JSON array`, { field: `${prefix}args` });
  if (!kwargsJson.startsWith('{')) throw new InvalidArgumentsError(`${prefix}kwargs must be a plain JSON object`, { field: `${prefix}kwargs` });
  if (argsJson.length + kwargsJson.length > limits.maxArgsBytes) {
    throw new InvalidArgumentsError(`${prefix}args and ${prefix}kwargs together exceed ${limits.maxArgsBytes} bytes of JSON`, {
      field: `${prefix}args`,
    });
  }
  const check = spec.checkArguments(args, kwargs as Record<string, unknown>);
  if (!check.ok) {
    const field = `${prefix}${check.path}`;
    throw new InvalidArgumentsError(`Invalid arguments for ${input.name}: ${field}: ${check.message}`, { field });
  }

  const queue = checkQueueName(input.queue ?? spec.queue ?? 'default', `${prefix}queue`);
  const priority = input.priority ?? spec.priority ?? 0;
  requireInt(priority, -100, 100, `${prefix}priority`);
  const maxAttempts = input.maxAttempts ?? spec.maxAttempts ?? 1;
  requireInt(maxAttempts, 1, MAX_ATTEMPTS, `${prefix}maxAttempts`);
  const timeoutMs = input.timeoutMs ?? null;
  if (timeoutMs !== null) requireInt(timeoutMs, 1, 2_147_483_647, `${prefix}timeoutMs`);
  const resultTtlMs = input.resultTtlMs ?? spec.resultTtlMs ?? null;
  if (resultTtlMs !== null) requireInt(resultTtlMs, 0, MAX_RESULT_TTL_MS, `${prefix}resultTtlMs`);
  if (input.runAfter !== undefined && !(input.runAfter instanceof Date && !Number.isNaN(input.runAfter.getTime()))) {
    throw new BadUserInputError(`${prefix}runAfter must be a valid date`, { field: `${prefix}runAfter` });
  }
  if (input.runAfter !== undefined) requireStorableDate(input.runAfter, `${prefix}runAfter`);
  const key = input.idempotencyKey ?? null;
  if (key !== null && (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY)) {
    throw new BadUserInputError(`${prefix}idempotencyKey must be a non-empty string of at most ${MAX_KEY} characters`, {
      field: `${prefix}idempotencyKey`,
    });
  }
  if (key !== null) requireStorable(key, `${prefix}idempotencyKey`);
  // Setting by setting, as for the other options: `{ baseMs }` keeps the definition's factor.
  const backoff = input.backoff !== undefined ? withBackoff(spec.backoff, checkBackoff(input.backoff, `${prefix}backoff`)) : (spec.backoff ?? null);
  const tenant = tenantOf(input, scope, prefix);
  const concurrencyKey = input.concurrencyKey ?? null;
  if (concurrencyKey !== null && (typeof concurrencyKey !== 'string' || concurrencyKey.length === 0 || concurrencyKey.length > MAX_KEY)) {
    throw new BadUserInputError(`${prefix}concurrencyKey must be a non-empty string of at most ${MAX_KEY} characters`, {
      field: `${prefix}concurrencyKey`,
    });
  }
  if (concurrencyKey !== null) requireStorable(concurrencyKey, `${prefix}concurrencyKey`);
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
    tenant,
    createdBy: scope.createdBy,
    concurrencyKey,
  };
}

/** The tenant a new task gets: the scope's, or the one the input names where the scope allows it. */
function tenantOf(input: EnqueueInput, scope: QueueScope, prefix: string): string {
  const named = input.tenant;
  if (named === undefined || named === scope.writeTenant) return scope.writeTenant;
  const field = `${prefix}tenant`;
  if (!isTenantName(named)) {
    throw new BadUserInputError(`${field} must be a non-empty string of at most ${MAX_TENANT} characters, without a NUL character or a lone surrogate`, {
      field,
    });
  }
  // A queue limited to one tenant writes only there; naming another is not "not found" but refused.
  if (scope.readTenant !== null) throw new ForbiddenError(`${field}: this queue enqueues only as tenant "${scope.writeTenant}"`, { field });
  return named;
}

/** Text a tenant column can hold and a principal can carry: 1..MAX_TENANT characters, storable. */
export function isTenantName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TENANT && isStorableText(value);
}

/** Most invalid inputs one refusal lists (`details.invalidInputs`); it counts them all. */
export const MAX_LISTED_INVALID_INPUTS = 100;

/**
 * prepareTask for each input. An invalid input refuses the batch with the first one's error, which
 * then also lists every invalid input of the batch (`details.invalidInputs`: field, code and message
 * of each, MAX_LISTED_INVALID_INPUTS at most; `details.invalidCount`: all of them), so that a caller
 * loading many mends them in one go rather than one run per bad input.
 */
function prepareTasks(
  catalog: TaskCatalog,
  inputs: readonly EnqueueInput[],
  limits: EnqueueLimits,
  scope: QueueScope,
  itemPrefix: (i: number) => string,
): NewTaskRow[] {
  const invalid = new InvalidInputs();
  const rows = invalid.prepare(catalog, inputs, 0, inputs.length, limits, scope, itemPrefix);
  invalid.throwIfAny();
  return rows;
}

/** The invalid inputs of a batch, gathered over one or more calls of `prepare` (see prepareTasks). */
class InvalidInputs {
  private first: AppError | undefined;
  private readonly listed: { field: string | null; code: string; message: string }[] = [];
  count = 0;

  /** prepareTask for inputs[from..to), index i named `itemPrefix(i)`; the invalid ones are kept here, not thrown. */
  prepare(
    catalog: TaskCatalog,
    inputs: readonly EnqueueInput[],
    from: number,
    to: number,
    limits: EnqueueLimits,
    scope: QueueScope,
    itemPrefix: (i: number) => string,
  ): NewTaskRow[] {
    const rows: NewTaskRow[] = [];
    for (let i = from; i < to; i++) {
      try {
        rows.push(prepareTask(catalog, inputs[i] as EnqueueInput, limits, scope, itemPrefix(i)));
      } catch (error) {
        // Only an input's own fault is listed; anything else is not about the inputs.
        if (!(error instanceof AppError)) throw error;
        this.first ??= error;
        this.count++;
        if (this.listed.length < MAX_LISTED_INVALID_INPUTS) this.listed.push({ field: error.field ?? null, code: error.code, message: error.message });
      }
    }
    return rows;
  }

  throwIfAny(): void {
    const first = this.first;
    if (first === undefined) return;
    if (this.count === 1) throw first;
    const more = this.count - 1;
    throw first.withDetails(
      { invalidCount: this.count, invalidInputs: this.listed },
      `${first.message} (and ${more} more invalid input${more === 1 ? '' : 's'}: details.invalidInputs)`,
    );
  }
}

/**
 * Stores tasks, all or nothing, in one statement, and announces them. On an executor that
 * is a transaction, the tasks and their notifications appear only if it commits. Same
 * idempotency key as an existing task of the same tenant: that task is returned instead;
 * CONFLICT, and nothing stored, if it is another task name (then a caller's transaction is
 * aborted too). Each task gets `scope`'s tenant and creator (see prepareTask).
 * Returns tasks in input order.
 * @param options.fieldPrefix what errors' fields (and messages) name the items by:
 *   `<fieldPrefix>[i].name` for every item, one alone included (GraphQL's `inputs[0].name`).
 *   Default: `[i].name` when there are several, `name` for one.
 * @param options.checkExisting see EnqueueManyOptions; run it inside a transaction, or its refusal
 *   leaves the call's new tasks stored
 * @param options.batcher where a call goes that it `takes` (small, no idempotency keys) instead of
 *   a statement of its own; only with `exec` the pool, not a caller's transaction. The call shares
 *   the next statement, and its commit, with concurrent enqueues, still all or nothing
 * @param options.byStatements store as several statements back to back (storeByStatements): only
 *   with `exec` a transaction and inputs that `goByStatements`
 */
export async function enqueueTasks(
  exec: Executor,
  catalog: TaskCatalog,
  inputs: readonly EnqueueInput[],
  limits: EnqueueLimits,
  scope: QueueScope = UNSCOPED,
  options: {
    fieldPrefix?: string;
    checkExisting?: (task: Task, index: number) => void;
    onExisting?: (task: Task, index: number) => void;
    batcher?: EnqueueBatcher;
    byStatements?: boolean;
  } = {},
): Promise<Task[]> {
  const { fieldPrefix, checkExisting, onExisting, batcher } = options;
  const itemPrefix = (i: number): string => (fieldPrefix !== undefined ? `${fieldPrefix}[${i}].` : inputs.length > 1 ? `[${i}].` : '');
  // No key, so no task stored before: checkExisting and onExisting have nothing to be told (by
  // statements and through the batcher alike).
  if (options.byStatements) return storeByStatements(exec, catalog, inputs, limits, scope, itemPrefix);
  const rows = prepareTasks(catalog, inputs, limits, scope, itemPrefix);
  if (batcher?.takes(rows)) return batcher.enqueueAll(rows);
  let outcomes: (Task | ConflictError)[];
  try {
    outcomes = await storeTasks(exec, rows, 'fail', itemPrefix);
  } catch (error) {
    if ((error as { code?: unknown }).code === KEY_CONFLICT_SQLSTATE) {
      // The statement names the key (drizzle/0002): the field names the first item that has it, as
      // every other error of a batch names its item. Its message also names the stored task's
      // name, which is not said here: over GraphQL the caller may be a credential that may enqueue
      // and not read (keyConflict names a task by its id for that reason; the failed statement
      // leaves no way to read the id inside a transaction).
      const message = (error as Error).message;
      const i = rows.findIndex((r) => r.idempotencyKey !== null && message.startsWith(`idempotencyKey "${r.idempotencyKey}" `));
      const row = rows[i];
      const field = `${itemPrefix(Math.max(i, 0))}idempotencyKey`;
      if (!row) throw new ConflictError(message, { field, cause: error });
      throw new ConflictError(`idempotencyKey "${row.idempotencyKey}" already belongs to a task of another name, not to a "${row.name}" task`, { field, cause: error });
    }
    throw error;
  }
  const newIds = checkExisting || onExisting ? new Set(rows.map((row) => row.id)) : undefined;
  return outcomes.map((outcome, i) => {
    // A key repeated in `rows` with another name: found before anything was sent.
    if (outcome instanceof ConflictError) throw outcome;
    // Stored before this call: neither this row nor an earlier row of the call with the same key.
    if (newIds && !newIds.has(outcome.id)) {
      onExisting?.(outcome, i);
      checkExisting?.(outcome, i);
    }
    return outcome;
  });
}

/**
 * Rows per statement of a call of more than this many tasks without keys, in a transaction
 * (storeByStatements). Parts of 500 to 2,000 measured alike, of 4,000 slower (docs/decisions.md "A
 * large call in several statements, pipelined").
 */
export const STATEMENT_ROWS = 2_000;

/** Whether an input names an idempotency key (null and undefined do not: prepareTask). */
export const hasKey = (input: EnqueueInput | null | undefined): boolean => input?.idempotencyKey != null;

/** Whether a call goes as several statements in a transaction (storeByStatements): more than STATEMENT_ROWS inputs, none with a key. */
export function goByStatements(inputs: readonly EnqueueInput[]): boolean {
  return inputs.length > STATEMENT_ROWS && !inputs.some(hasKey);
}

/** Inputs prepared between two turns of the event loop while a large call's parts are sent (storeByStatements). */
const PREPARE_SLICE = 250;

/**
 * A large call without keys, in `tx`: its inputs are prepared, encoded and sent STATEMENT_ROWS at a
 * time, each part handed to postgres.js as soon as it is ready (it sends the next on the
 * transaction's connection once the one before is answered), so that PostgreSQL inserts one part
 * while Node prepares the later ones and builds the tasks of the earlier: in one statement each side
 * waited for the other. Still all or nothing: one transaction, and an invalid input refuses the
 * call as prepareTasks does (every input checked, the later parts no longer sent), which rolls back
 * what was sent.
 */
async function storeByStatements(
  tx: Executor,
  catalog: TaskCatalog,
  inputs: readonly EnqueueInput[],
  limits: EnqueueLimits,
  scope: QueueScope,
  itemPrefix: (i: number) => string,
): Promise<Task[]> {
  const invalid = new InvalidInputs();
  const parts: Promise<Task[]>[] = [];
  for (let from = 0; from < inputs.length; from += STATEMENT_ROWS) {
    const to = Math.min(from + STATEMENT_ROWS, inputs.length);
    const rows: NewTaskRow[] = [];
    for (let at = from; at < to; at += PREPARE_SLICE) {
      // A turn of the event loop between slices: the parts sent so far reach the socket (postgres.js
      // starts a query from a microtask, and a write larger than the socket's buffer goes on in
      // later turns), so the database has the first part while Node prepares the next ones.
      if (parts.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      rows.push(...invalid.prepare(catalog, inputs, at, Math.min(at + PREPARE_SLICE, to), limits, scope, itemPrefix));
    }
    if (invalid.count > 0) continue;
    const part = insertTasks(tx, rows, 'fail').then((outcome) => rows.map((row) => newTask(row, outcome.enqueuedAt)));
    // Awaited below, unless an input is refused first: the transaction's rollback then ends it.
    part.catch(() => undefined);
    parts.push(part);
  }
  invalid.throwIfAny();
  return (await Promise.all(parts)).flat();
}

/**
 * Inserts prepared rows with `insertTasks` and settles each one on its own: its new task,
 * the existing task of its idempotency key, or a ConflictError when that task has another
 * name. A key repeated within `rows` is sent once; the later rows get the first one's task
 * ("same key twice → the first task"), as if they had come after it. With `fail` (all or
 * nothing) a key conflict fails the statement instead (SQLSTATE KEY_CONFLICT_SQLSTATE), and
 * a key repeated with another name throws a ConflictError before anything is sent.
 * @param itemPrefix how such an error's field names the row (default `[i].`)
 * @throws what the statement throws (then nothing was stored)
 */
export async function storeTasks(
  exec: Executor,
  rows: readonly NewTaskRow[],
  keyConflicts: KeyConflicts = 'skip',
  itemPrefix: (i: number) => string = (i) => `[${i}].`,
): Promise<(Task | ConflictError)[]> {
  // Keys are unique per tenant: the same key in two tenants names two tasks.
  let firstByKey: Map<string, NewTaskRow> | undefined;
  let unique: NewTaskRow[] | undefined;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as NewTaskRow;
    if (row.idempotencyKey === null) {
      unique?.push(row);
      continue;
    }
    firstByKey ??= new Map();
    const key = tenantKey(row);
    const first = firstByKey.get(key);
    if (!first) {
      firstByKey.set(key, row);
      unique?.push(row);
      continue;
    }
    unique ??= rows.slice(0, i) as NewTaskRow[];
    if (keyConflicts === 'fail' && first.name !== row.name) {
      throw keyConflict(row.idempotencyKey, `a task named "${first.name}" earlier in this batch`, row.name, `${itemPrefix(i)}idempotencyKey`);
    }
  }
  let sent = unique ?? rows;
  // Keyed rows in key order: two statements that insert the same keys each wait for the other's
  // uncommitted ones in the unique index, and in opposite orders they deadlocked (a tester's three
  // loads of one file, shuffled: 2 runs of 4 failed). In one order, the later one waits, never both.
  if (firstByKey && firstByKey.size > 1) sent = [...sent].sort(byTenantKey);
  const outcome = await insertTasks(exec, sent, keyConflicts);
  if (!firstByKey) return rows.map((row) => newTask(row, outcome.enqueuedAt));

  // The task each key stands for: the row inserted now, or the one that was there before.
  const taskByKey = new Map<string, Task>();
  const missing: TenantKey[] = [];
  for (const [key, row] of firstByKey) {
    if (outcome.insertedWithKey.has(row.id)) taskByKey.set(key, newTask(row, outcome.enqueuedAt));
    else missing.push({ tenant: row.tenant, key: row.idempotencyKey as string });
  }
  for (const task of await getTasksByIdempotencyKeys(exec, missing)) taskByKey.set(tenantKey(task), task);
  return rows.map((row) => {
    if (row.idempotencyKey === null) return newTask(row, outcome.enqueuedAt);
    const task = taskByKey.get(tenantKey(row));
    // Inserted by someone else and removed (cleaned up) before we read it: a rare race, not bad input.
    if (!task) throw new Error(`Task ${row.id} was neither inserted nor found by its idempotency key`);
    return task.name === row.name ? task : keyConflict(row.idempotencyKey, `task ${task.id}`, row.name);
  });
}

/** Keyed rows first, in (tenant, key) order; rows without a key after them, as they came (Array#sort is stable). */
function byTenantKey(a: NewTaskRow, b: NewTaskRow): number {
  if (a.idempotencyKey === null || b.idempotencyKey === null) return (a.idempotencyKey === null ? 1 : 0) - (b.idempotencyKey === null ? 1 : 0);
  const ka = tenantKey(a);
  const kb = tenantKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** A map key for (tenant, idempotency key): neither can hold a NUL (prepareTask refuses it), so NUL separates them. */
function tenantKey(t: { tenant: string; idempotencyKey: string | null }): string {
  return `${t.tenant}\u0000${t.idempotencyKey as string}`;
}

// A stored task is named by its id, not its name: a credential that may enqueue but not read
// learns nothing of another's task from the refusal (the id reads only with tasks:read).
function keyConflict(key: string, existing: string, name: string, field = 'idempotencyKey'): ConflictError {
  return new ConflictError(`idempotencyKey "${key}" already belongs to ${existing}, not to a "${name}" task`, { field });
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
