import type { TaskRow } from '../db/schema.js';
import type { JsonObject, JsonValue } from './json.js';
import type { DependencyFailurePolicy } from '../states.js';
import type { TaskStatus } from './states.js';

/** One failed attempt, as stored in `errors` (oldest first). */
export interface TaskError {
  exceptionType: string;
  message: string;
  traceback: string | null;
  attempt: number;
  at: Date;
  workerId: string | null;
}

export interface TaskProgress {
  current: number | null;
  total: number | null;
  message: string | null;
  updatedAt: Date;
}

/** Retry delay: `min(maxMs, baseMs * factor^(attempt-1))`, then ±`jitter` (a fraction). */
export interface Backoff {
  baseMs: number;
  maxMs: number;
  factor: number;
  jitter: number;
}

/** A task as the core returns it: the row, typed. */
export interface Task {
  id: string;
  name: string;
  queue: string;
  priority: number;
  args: JsonValue[];
  kwargs: JsonObject;
  status: TaskStatus;
  version: number;
  attempts: number;
  maxAttempts: number;
  runAfter: Date;
  enqueuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  lastAttemptedAt: Date | null;
  workerIds: string[];
  errors: TaskError[];
  returnValue: JsonValue | null;
  progress: TaskProgress | null;
  lockedBy: string | null;
  leaseExpiresAt: Date | null;
  idempotencyKey: string | null;
  expiresAt: Date | null;
  cancelRequested: boolean;
  timeoutMs: number | null;
  resultTtlMs: number | null;
  backoff: Backoff | null;
  /** Bytes of output written so far, over every attempt (capped by MAX_OUTPUT_BYTES). */
  outputBytes: number;
  /** Whose task it is (docs/auth.md); `default` for every task enqueued while auth is off. */
  tenant: string;
  /** The principal that enqueued it; null while auth is off. */
  createdBy: string | null;
  /** Whose turn it shares (e.g. a customer id) under the queue's perKeyConcurrency; null: none (docs/flow-control.md). */
  concurrencyKey: string | null;
  /** The workflow this task is a step of (src/queue/workflows); null for a plain task. */
  workflowId: string | null;
  /** The step's ref within its workflow. */
  stepRef: string | null;
  /** Parent task ids (the step's dependsOn); empty for a plain task. */
  dependsOn: string[];
  /** Child task ids: the steps that depend on this one. */
  dependents: string[];
  /** Parents that have not ended yet (a BLOCKED step is released at 0); null for a plain task. */
  waitingParents: number | null;
  /** A step's policy when a parent FAILED or was CANCELLED; null for a plain task. */
  onDependencyFailure: DependencyFailurePolicy | null;
  /** The schedule occurrence it was enqueued for (src/queue/schedules); null for a plain task or a manual trigger. */
  scheduledFor: Date | null;
  /** The schedule that enqueued it (which may have been deleted since); null for a plain task. */
  scheduleId: string | null;
}

/**
 * Tied to the Drizzle table at compile time: a column added, dropped or retyped in
 * src/db/schema.ts without the same change here fails the typecheck, naming the column.
 * (JSON columns are `unknown` in the row; their shapes are this module's.)
 */
// Bookkeeping no reader of a task needs: attempt_budget (what retryTask grants, src/queue/sql/requeue-task.ts),
// claimed_ahead_at and ahead_give_backs (what the rescuer gives back uncounted, src/queue/sql/rescue-tasks.ts),
// last_event_tx (the feed position its next event must not sort below, src/queue/events.ts),
// return_value_json (the result, read into returnValue: storedResult below).
type InternalColumns = 'attemptBudget' | 'claimedAheadAt' | 'aheadGiveBacks' | 'lastEventTx' | 'returnValueJson';
type FieldsOnlyOneSide = Exclude<keyof Task, keyof TaskRow> | Exclude<keyof TaskRow, keyof Task | InternalColumns>;
type ColumnsOfAnotherType = {
  [K in keyof TaskRow & keyof Task]: unknown extends TaskRow[K] ? never : TaskRow[K] extends Task[K] ? never : K;
}[keyof TaskRow & keyof Task];
const taskMatchesTable: [FieldsOnlyOneSide | ColumnsOfAnotherType] extends [never] ? true : FieldsOnlyOneSide | ColumnsOfAnotherType = true;
void taskMatchesTable;

interface StoredError {
  exceptionType: string;
  message: string;
  traceback?: string | null;
  attempt: number;
  at: string;
  workerId?: string | null;
}

interface StoredProgress {
  current?: number | null;
  total?: number | null;
  message?: string | null;
  updatedAt: string;
}

/**
 * Maps a camelCased `tasks` row (see createDb) to a Task; JSON dates become Dates.
 * Timestamps may arrive as strings: a pool wrapped by `drizzle()` parses them no more,
 * and an app may hand us its own Drizzle transaction (see executor.ts).
 */
export function toTask(row: Record<string, unknown>): Task {
  const r = row as unknown as Task & { errors: StoredError[]; progress: StoredProgress | null };
  return {
    id: r.id,
    name: r.name,
    queue: r.queue,
    priority: r.priority,
    args: r.args,
    kwargs: r.kwargs,
    status: r.status,
    version: r.version,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    runAfter: toDate(r.runAfter),
    enqueuedAt: toDate(r.enqueuedAt),
    startedAt: toDateOrNull(r.startedAt),
    finishedAt: toDateOrNull(r.finishedAt),
    lastAttemptedAt: toDateOrNull(r.lastAttemptedAt),
    workerIds: r.workerIds,
    errors: r.errors.map(toTaskError),
    returnValue: storedResult(row.returnValueJson, r.returnValue),
    progress: r.progress ? toTaskProgress(r.progress) : null,
    lockedBy: r.lockedBy,
    leaseExpiresAt: toDateOrNull(r.leaseExpiresAt),
    idempotencyKey: r.idempotencyKey,
    expiresAt: toDateOrNull(r.expiresAt),
    cancelRequested: r.cancelRequested,
    timeoutMs: r.timeoutMs,
    resultTtlMs: r.resultTtlMs,
    backoff: r.backoff,
    outputBytes: r.outputBytes ?? 0,
    tenant: r.tenant ?? 'default',
    createdBy: r.createdBy ?? null,
    concurrencyKey: r.concurrencyKey ?? null,
    workflowId: r.workflowId ?? null,
    stepRef: r.stepRef ?? null,
    dependsOn: r.dependsOn ?? [],
    dependents: r.dependents ?? [],
    waitingParents: r.waitingParents ?? null,
    onDependencyFailure: r.onDependencyFailure ?? null,
    scheduledFor: toDateOrNull(r.scheduledFor),
    scheduleId: r.scheduleId ?? null,
  };
}

function toTaskError(e: StoredError): TaskError {
  return {
    exceptionType: e.exceptionType,
    message: e.message,
    traceback: e.traceback ?? null,
    attempt: e.attempt,
    at: new Date(e.at),
    workerId: e.workerId ?? null,
  };
}

function toTaskProgress(p: StoredProgress): TaskProgress {
  return {
    current: p.current ?? null,
    total: p.total ?? null,
    message: p.message ?? null,
    updatedAt: new Date(p.updatedAt),
  };
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

function toDateOrNull(value: Date | string | null | undefined): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

/**
 * A result as stored: the json column (drizzle/0042), else the jsonb one it replaced (rows recorded
 * before, or by an older worker). Both arrive parsed; NULL in both is a task without a result.
 */
function storedResult(json: unknown, jsonb: unknown): JsonValue | null {
  return ((json ?? jsonb) as JsonValue | null | undefined) ?? null;
}

/**
 * Where each of a Task's fields is in a row read with postgres.js `.values()`: the column's index;
 * also return_value_json's, which storedResult reads with return_value into Task.returnValue.
 */
export type TaskColumns = Readonly<Record<keyof Task | 'returnValueJson', number>>;

// Every field of a Task, from the one mapping that lists them all (an empty row maps to a Task of
// undefineds), and the second column of its result.
const TASK_KEYS = [...(Object.keys(toTask({ errors: [] })) as (keyof Task)[]), 'returnValueJson' as const];

/**
 * The index of every Task field among a `.values()` result's columns (camelCased names, see
 * createDb). Made once per statement; throws when a column is missing, as a row without it
 * would be no Task.
 */
export function taskColumns(columns: readonly { name: string }[]): TaskColumns {
  const index: Partial<Record<keyof TaskColumns, number>> = {};
  for (let i = 0; i < columns.length; i++) index[(columns[i] as { name: string }).name as keyof TaskColumns] = i;
  for (const key of TASK_KEYS) if (index[key] === undefined) throw new Error(`No column for Task.${key} in the row`);
  return index as TaskColumns;
}

/**
 * toTask for a row read as an array (postgres.js `.values()`), with its columns' places from
 * taskColumns: the same Task. Why: postgres.js builds an object row by adding ~45 properties one
 * by one, regrowing its property store as it goes, and toTask then copies it; a claim of
 * hundreds of tasks paid that per task (bench/README.md (a)). Keep in step with toTask (the Task
 * literal below is type-checked field by field; test/queue/claim-function.test.ts compares both).
 */
export function taskFromValues(v: readonly unknown[], c: TaskColumns): Task {
  const errors = v[c.errors] as StoredError[];
  const progress = v[c.progress] as StoredProgress | null;
  return {
    id: v[c.id] as string,
    name: v[c.name] as string,
    queue: v[c.queue] as string,
    priority: v[c.priority] as number,
    args: v[c.args] as JsonValue[],
    kwargs: v[c.kwargs] as JsonObject,
    status: v[c.status] as TaskStatus,
    version: v[c.version] as number,
    attempts: v[c.attempts] as number,
    maxAttempts: v[c.maxAttempts] as number,
    runAfter: toDate(v[c.runAfter] as Date | string),
    enqueuedAt: toDate(v[c.enqueuedAt] as Date | string),
    startedAt: toDateOrNull(v[c.startedAt] as Date | string | null),
    finishedAt: toDateOrNull(v[c.finishedAt] as Date | string | null),
    lastAttemptedAt: toDateOrNull(v[c.lastAttemptedAt] as Date | string | null),
    workerIds: v[c.workerIds] as string[],
    errors: errors.length === 0 ? [] : errors.map(toTaskError),
    returnValue: storedResult(v[c.returnValueJson], v[c.returnValue]),
    progress: progress ? toTaskProgress(progress) : null,
    lockedBy: v[c.lockedBy] as string | null,
    leaseExpiresAt: toDateOrNull(v[c.leaseExpiresAt] as Date | string | null),
    idempotencyKey: v[c.idempotencyKey] as string | null,
    expiresAt: toDateOrNull(v[c.expiresAt] as Date | string | null),
    cancelRequested: v[c.cancelRequested] as boolean,
    timeoutMs: v[c.timeoutMs] as number | null,
    resultTtlMs: v[c.resultTtlMs] as number | null,
    backoff: v[c.backoff] as Backoff | null,
    outputBytes: (v[c.outputBytes] as number | null | undefined) ?? 0,
    tenant: (v[c.tenant] as string | null | undefined) ?? 'default',
    createdBy: (v[c.createdBy] as string | null | undefined) ?? null,
    concurrencyKey: (v[c.concurrencyKey] as string | null | undefined) ?? null,
    workflowId: (v[c.workflowId] as string | null | undefined) ?? null,
    stepRef: (v[c.stepRef] as string | null | undefined) ?? null,
    dependsOn: (v[c.dependsOn] as string[] | null | undefined) ?? [],
    dependents: (v[c.dependents] as string[] | null | undefined) ?? [],
    waitingParents: (v[c.waitingParents] as number | null | undefined) ?? null,
    onDependencyFailure: (v[c.onDependencyFailure] as DependencyFailurePolicy | null | undefined) ?? null,
    scheduledFor: toDateOrNull(v[c.scheduledFor] as Date | string | null),
    scheduleId: (v[c.scheduleId] as string | null | undefined) ?? null,
  };
}
