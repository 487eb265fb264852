/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** The retry delay: min(maxMs, baseMs × factor^(attempt − 1)), then ±jitter. Unset settings: the task definition's backoff's, then the defaults. */
export type BackoffInput = {
  /** Delay after the first failed attempt, in ms: 0..31536000000 (a year; default 1000). */
  baseMs?: number | null | undefined;
  /** Growth per attempt: 1..100 (1: a fixed delay; default 2). */
  factor?: number | null | undefined;
  /** Random spread as a fraction of the delay: 0..1 (default 0.25). */
  jitter?: number | null | undefined;
  /** Longest delay, in ms: 0..31536000000 (default 600000). */
  maxMs?: number | null | undefined;
};

/** What a bulk action does to each of its tasks: cancelTask's or retryTask's change. */
export type BulkActionKind =
  | 'CANCEL'
  | 'RETRY';

/** RUNNING until each of its tasks is processed (DONE), or stopped by an error (FAILED). */
export type BulkActionStatus =
  | 'DONE'
  | 'FAILED'
  | 'RUNNING';

/** What becomes of a step when a parent FAILED or was CANCELLED: CANCEL it (and its dependents), or RUN_ANYWAY once every parent ended. */
export type DependencyFailurePolicy =
  | 'CANCEL'
  | 'RUN_ANYWAY';

/** Unset options fall back to the task definition's, then to the defaults. */
export type EnqueueTaskInput = {
  /** Positional arguments: a JSON array (default []). */
  args?: unknown;
  /** Retry spacing (with maxAttempts > 1); replaces the definition's backoff setting by setting. */
  backoff?: BackoffInput | null | undefined;
  /** Whose turn it shares, e.g. a customer id: the queue's perKeyConcurrency caps RUNNING tasks per key. */
  concurrencyKey?: string | null | undefined;
  /** Same key again: the first task is returned, no second one is made; the second input's options (timeoutMs, backoff, …) are ignored. */
  idempotencyKey?: string | null | undefined;
  /** Keyword arguments: a JSON object (default {}). */
  kwargs?: unknown;
  /** 1..1000 (default 1: retries are asked for). */
  maxAttempts?: number | null | undefined;
  /** A registered task name, e.g. "math.copysign". */
  name: string;
  /** -100..100, higher runs first (default 0). */
  priority?: number | null | undefined;
  queue?: string | null | undefined;
  /** How long the finished task is kept, in ms from finishedAt (expiresAt): a whole number 0..31557600000000 (default: the definition's, else RESULT_TTL_MS). */
  resultTtlMs?: number | null | undefined;
  /** Do not run before this time. */
  runAfter?: string | null | undefined;
  /** Each attempt's time limit, in ms: 1..2147483647 (default: the task definition's, else none). Past it the handler's signal aborts and the attempt fails with a TimeoutError. */
  timeoutMs?: number | null | undefined;
};

export type EnqueueWorkflowInput = {
  /** Same key again (same tenant): the stored workflow is returned, nothing new is made. */
  idempotencyKey?: string | null | undefined;
  /** A label for people. */
  name?: string | null | undefined;
  steps: Array<WorkflowStepInput>;
};

/** Occurrences that passed while no scheduler ran (downtime; a pause is not downtime): SKIP none, RUN_ONCE one task now, RUN_ALL one per occurrence, oldest first, at most SCHEDULE_CATCH_UP_MAX. */
export type MissedRunPolicy =
  | 'RUN_ALL'
  | 'RUN_ONCE'
  | 'SKIP';

/** An occurrence while the schedule's previous task is unfinished (PENDING, RUNNING or RETRYING): ALLOW another task, or SKIP it. */
export type OverlapPolicy =
  | 'ALLOW'
  | 'SKIP';

/** A field given as null clears that limit; a field left out keeps it. */
export type QueueLimitsInput = {
  /** Most RUNNING tasks of the queue at once, across every worker (1..1,000,000). */
  concurrency?: number | null | undefined;
  /** Most RUNNING tasks per concurrencyKey at once (1..1,000,000). */
  perKeyConcurrency?: number | null | undefined;
  rateLimit?: RateLimitInput | null | undefined;
};

export type RateLimitInput = {
  /** 1..1,000,000 starts per window. */
  max: number;
  /** The window, 1..86,400,000 ms. */
  perMs: number;
};

/** What an entry of a task’s event log records. */
export type TaskEventType =
  | 'CANCELLED'
  | 'CANCEL_REQUESTED'
  | 'ENQUEUED'
  | 'FAILED'
  | 'OUTPUT'
  | 'PROGRESS'
  | 'PROMOTED'
  | 'RELEASED'
  | 'RESCUED'
  | 'RETRIED'
  | 'RETRY_SCHEDULED'
  | 'SNOOZED'
  | 'STARTED'
  | 'SUCCEEDED';

/** All given conditions must hold. */
export type TaskFilter = {
  enqueuedAfter?: string | null | undefined;
  enqueuedBefore?: string | null | undefined;
  name?: string | null | undefined;
  queue?: string | null | undefined;
  /** Any of these statuses; empty or null: every status. */
  status?: Array<TaskStatus> | null | undefined;
  /** Only the steps of this workflow. */
  workflowId?: string | number | null | undefined;
};

/** Where a task is in its life: PENDING → RUNNING → SUCCEEDED | RETRYING | FAILED; CANCELLED on request. */
export type TaskStatus =
  | 'BLOCKED'
  | 'CANCELLED'
  | 'FAILED'
  | 'PENDING'
  | 'RETRYING'
  | 'RUNNING'
  | 'SUCCEEDED';

/** Creates the schedule, or updates the one with this key. Unset policies keep their values on update (defaults on create). */
export type UpsertScheduleInput = {
  /** 5 fields (minute first), or 6 with seconds first (`*\/5 * * * * *` = every 5 s). */
  cron: string;
  /** Unique per tenant, 1..200 characters. */
  key: string;
  /** Default RUN_ONCE. */
  missed?: MissedRunPolicy | null | undefined;
  /** Default ALLOW. */
  overlap?: OverlapPolicy | null | undefined;
  /** Default false on create; an update leaves the pause as it is unless given. */
  paused?: boolean | null | undefined;
  /** The task each occurrence enqueues; its concurrencyKey goes to every occurrence (the queue's perKeyConcurrency holds for them). runAfter and idempotencyKey are each occurrence's own: giving them is BAD_USER_INPUT. */
  task: EnqueueTaskInput;
  /** Whose schedule (default the caller's own). Another tenant's: only for a caller that sees every tenant (admin, or auth off); any other gets NOT_FOUND naming input.tenant, never FORBIDDEN. */
  tenant?: string | null | undefined;
  /** IANA time zone of the wall clock (default UTC). */
  timezone?: string | null | undefined;
};

/** Why a waiting task has not started, read when asked (exact for that moment): BLOCKED (a workflow step waiting for its parents), SCHEDULED (runAfter is ahead), QUEUE_PAUSED, KEY_LIMIT, CONCURRENCY_LIMIT, RATE_LIMIT, in that precedence. */
export type WaitReason =
  | 'BLOCKED'
  | 'CONCURRENCY_LIMIT'
  | 'KEY_LIMIT'
  | 'QUEUE_PAUSED'
  | 'RATE_LIMIT'
  | 'SCHEDULED';

/** RUNNING until nothing is left to run; SUCCEEDED when every step did; FAILED when one failed; CANCELLED by cancelWorkflow. */
export type WorkflowStatus =
  | 'CANCELLED'
  | 'FAILED'
  | 'RUNNING'
  | 'SUCCEEDED';

export type WorkflowStepInput = {
  /** Refs of the steps this one waits for (none: it starts at once; some: it starts BLOCKED). */
  dependsOn?: Array<string> | null | undefined;
  /** Default CANCEL. */
  onDependencyFailure?: DependencyFailurePolicy | null | undefined;
  /** The step's name, unique in the workflow: what dependsOn and a handler's ctx.dependencies call it. */
  ref: string;
  task: EnqueueTaskInput;
};

export type ClientBulkActionFragment = { id: string, kind: BulkActionKind, status: BulkActionStatus, matched: number, processed: number, changed: number, version: number, error: string | null, createdAt: string, finishedAt: string | null };

export type CancelTasksMutationVariables = Exact<{
  filter: TaskFilter;
}>;


export type CancelTasksMutation = { cancelTasks: { id: string, kind: BulkActionKind, status: BulkActionStatus, matched: number, processed: number, changed: number, version: number, error: string | null, createdAt: string, finishedAt: string | null } };

export type RetryTasksMutationVariables = Exact<{
  filter: TaskFilter;
}>;


export type RetryTasksMutation = { retryTasks: { id: string, kind: BulkActionKind, status: BulkActionStatus, matched: number, processed: number, changed: number, version: number, error: string | null, createdAt: string, finishedAt: string | null } };

export type GetBulkActionQueryVariables = Exact<{
  id: string | number;
}>;


export type GetBulkActionQuery = { bulkAction: { id: string, kind: BulkActionKind, status: BulkActionStatus, matched: number, processed: number, changed: number, version: number, error: string | null, createdAt: string, finishedAt: string | null } | null };

export type WatchBulkActionSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type WatchBulkActionSubscription = { bulkActionChanged: { id: string, kind: BulkActionKind, status: BulkActionStatus, matched: number, processed: number, changed: number, version: number, error: string | null, createdAt: string, finishedAt: string | null } };

export type ClientBackoffFragment = { baseMs: number, maxMs: number, factor: number, jitter: number };

export type ClientTaskStateFragment = { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> };

export type ClientTaskFragment = { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> };

export type EnqueueTaskMutationVariables = Exact<{
  input: EnqueueTaskInput;
  withReadToken?: boolean;
}>;


export type EnqueueTaskMutation = { enqueueTask: { readToken?: string | null, task: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } } };

export type ClientEnqueuedTaskFragment = { id: string, name: string, queue: string, priority: number, status: TaskStatus, version: number, attempts: number, maxAttempts: number, enqueuedAt: string, runAfter: string | null, idempotencyKey: string | null, concurrencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null };

export type EnqueueTasksMutationVariables = Exact<{
  inputs: Array<EnqueueTaskInput> | EnqueueTaskInput;
}>;


export type EnqueueTasksMutation = { enqueueTasks: { tasks: Array<{ id: string, name: string, queue: string, priority: number, status: TaskStatus, version: number, attempts: number, maxAttempts: number, enqueuedAt: string, runAfter: string | null, idempotencyKey: string | null, concurrencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null }> } };

export type CreateReadTokenMutationVariables = Exact<{
  taskIds: Array<string | number> | string | number;
  ttlSeconds?: number | null | undefined;
}>;


export type CreateReadTokenMutation = { createReadToken: { token: string, expiresAt: string } };

export type GetTaskQueryVariables = Exact<{
  id: string | number;
}>;


export type GetTaskQuery = { taskResult: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } | null };

export type ListTasksQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
  filter?: TaskFilter | null | undefined;
  withCount: boolean;
}>;


export type ListTasksQuery = { tasks: { totalCount?: number, edges: Array<{ cursor: string, node: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CancelTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type CancelTaskMutation = { cancelTask: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } };

export type RetryTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type RetryTaskMutation = { retryTask: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } };

export type RunTaskNowMutationVariables = Exact<{
  id: string | number;
}>;


export type RunTaskNowMutation = { runTaskNow: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } };

export type CancelTaskStateMutationVariables = Exact<{
  id: string | number;
}>;


export type CancelTaskStateMutation = { cancelTask: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } };

export type RetryTaskStateMutationVariables = Exact<{
  id: string | number;
}>;


export type RetryTaskStateMutation = { retryTask: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } };

export type RunTaskNowStateMutationVariables = Exact<{
  id: string | number;
}>;


export type RunTaskNowStateMutation = { runTaskNow: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } };

export type QueueStatsQueryVariables = Exact<{ [key: string]: never; }>;


export type QueueStatsQuery = { queueStats: Array<{ queue: string, blocked: number, pending: number, running: number, retrying: number, succeeded: number, failed: number, cancelled: number, total: number, oldestPendingAgeMs: number | null }> };

export type ClientTaskEventFragment = { taskId: string, version: number, type: TaskEventType, status: TaskStatus, at: string, attempt: number, workerId: string | null, output: unknown, cursor: string, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, error: { exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null } | null };

export type FollowTaskEventsSubscriptionVariables = Exact<{
  id: string | number;
  afterVersion: number;
  types?: Array<TaskEventType> | TaskEventType | null | undefined;
}>;


export type FollowTaskEventsSubscription = { taskEvents: { taskId: string, version: number, type: TaskEventType, status: TaskStatus, at: string, attempt: number, workerId: string | null, output: unknown, cursor: string, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, error: { exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null } | null } };

export type TaskVersionQueryVariables = Exact<{
  id: string | number;
}>;


export type TaskVersionQuery = { taskResult: { id: string, version: number, isFinished: boolean } | null };

export type TaskEventPageQueryVariables = Exact<{
  id: string | number;
  first: number;
  after?: string | null | undefined;
  types?: Array<TaskEventType> | TaskEventType | null | undefined;
}>;


export type TaskEventPageQuery = { taskResult: { id: string, events: { edges: Array<{ node: { taskId: string, version: number, type: TaskEventType, status: TaskStatus, at: string, attempt: number, workerId: string | null, output: unknown, cursor: string, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, error: { exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null } | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } } | null };

export type ClientWorkflowHeadFragment = { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, stepCounts: { total: number, finished: number, succeeded: number } };

export type ClientWorkflowFragment = { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }>, stepCounts: { total: number, finished: number, succeeded: number } };

export type ClientWorkflowStateFragment = { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }>, stepCounts: { total: number, finished: number, succeeded: number } };

export type EnqueueWorkflowMutationVariables = Exact<{
  input: EnqueueWorkflowInput;
}>;


export type EnqueueWorkflowMutation = { enqueueWorkflow: { workflow: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }>, stepCounts: { total: number, finished: number, succeeded: number } } } };

export type GetWorkflowQueryVariables = Exact<{
  id: string | number;
}>;


export type GetWorkflowQuery = { workflow: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }>, stepCounts: { total: number, finished: number, succeeded: number } } | null };

export type CancelWorkflowMutationVariables = Exact<{
  id: string | number;
}>;


export type CancelWorkflowMutation = { cancelWorkflow: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }>, stepCounts: { total: number, finished: number, succeeded: number } } };

export type CancelWorkflowStateMutationVariables = Exact<{
  id: string | number;
}>;


export type CancelWorkflowStateMutation = { cancelWorkflow: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }>, stepCounts: { total: number, finished: number, succeeded: number } } };

export type WatchWorkflowSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type WatchWorkflowSubscription = { workflowChanged: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }>, stepCounts: { total: number, finished: number, succeeded: number } } };

export type TaskEventFeedCursorQueryVariables = Exact<{ [key: string]: never; }>;


export type TaskEventFeedCursorQuery = { taskEventFeedCursor: string };

export type FollowTaskEventFeedSubscriptionVariables = Exact<{
  filter?: TaskFilter | null | undefined;
  after?: string | null | undefined;
}>;


export type FollowTaskEventFeedSubscription = { taskEventFeed: { taskId: string, version: number, type: TaskEventType, status: TaskStatus, at: string, attempt: number, workerId: string | null, output: unknown, cursor: string, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, error: { exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null } | null } };

export type FollowTaskEventFeedWithTaskSubscriptionVariables = Exact<{
  filter?: TaskFilter | null | undefined;
  after?: string | null | undefined;
}>;


export type FollowTaskEventFeedWithTaskSubscription = { taskEventFeed: { taskId: string, version: number, type: TaskEventType, status: TaskStatus, at: string, attempt: number, workerId: string | null, output: unknown, cursor: string, task: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> }, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, error: { exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null } | null } };

export type ClientQueueFragment = { name: string, paused: boolean, pausedAt: string | null, concurrency: number | null, perKeyConcurrency: number | null, rateLimit: { max: number, perMs: number } | null, stats: { queue: string, pending: number, running: number, retrying: number, succeeded: number, failed: number, cancelled: number, total: number, oldestPendingAgeMs: number | null } };

export type ListQueuesQueryVariables = Exact<{ [key: string]: never; }>;


export type ListQueuesQuery = { queues: Array<{ name: string, paused: boolean, pausedAt: string | null, concurrency: number | null, perKeyConcurrency: number | null, rateLimit: { max: number, perMs: number } | null, stats: { queue: string, pending: number, running: number, retrying: number, succeeded: number, failed: number, cancelled: number, total: number, oldestPendingAgeMs: number | null } }> };

export type PauseQueueMutationVariables = Exact<{
  name: string;
}>;


export type PauseQueueMutation = { pauseQueue: { name: string, paused: boolean, pausedAt: string | null, concurrency: number | null, perKeyConcurrency: number | null, rateLimit: { max: number, perMs: number } | null, stats: { queue: string, pending: number, running: number, retrying: number, succeeded: number, failed: number, cancelled: number, total: number, oldestPendingAgeMs: number | null } } };

export type ResumeQueueMutationVariables = Exact<{
  name: string;
}>;


export type ResumeQueueMutation = { resumeQueue: { name: string, paused: boolean, pausedAt: string | null, concurrency: number | null, perKeyConcurrency: number | null, rateLimit: { max: number, perMs: number } | null, stats: { queue: string, pending: number, running: number, retrying: number, succeeded: number, failed: number, cancelled: number, total: number, oldestPendingAgeMs: number | null } } };

export type SetQueueLimitsMutationVariables = Exact<{
  name: string;
  limits: QueueLimitsInput;
}>;


export type SetQueueLimitsMutation = { setQueueLimits: { name: string, paused: boolean, pausedAt: string | null, concurrency: number | null, perKeyConcurrency: number | null, rateLimit: { max: number, perMs: number } | null, stats: { queue: string, pending: number, running: number, retrying: number, succeeded: number, failed: number, cancelled: number, total: number, oldestPendingAgeMs: number | null } } };

export type ClientScheduleFragment = { id: string, tenant: string, key: string, cron: string, timezone: string, taskName: string, args: unknown, kwargs: unknown, queue: string, priority: number, maxAttempts: number, timeoutMs: number | null, resultTtlMs: number | null, concurrencyKey: string | null, overlap: OverlapPolicy, missed: MissedRunPolicy, paused: boolean, nextRunAt: string | null, lastRunAt: string | null, version: number, createdAt: string, updatedAt: string, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, lastTask: { id: string, status: TaskStatus, enqueuedAt: string, finishedAt: string | null, scheduledFor: string | null } | null };

export type UpsertScheduleMutationVariables = Exact<{
  input: UpsertScheduleInput;
}>;


export type UpsertScheduleMutation = { upsertSchedule: { id: string, tenant: string, key: string, cron: string, timezone: string, taskName: string, args: unknown, kwargs: unknown, queue: string, priority: number, maxAttempts: number, timeoutMs: number | null, resultTtlMs: number | null, concurrencyKey: string | null, overlap: OverlapPolicy, missed: MissedRunPolicy, paused: boolean, nextRunAt: string | null, lastRunAt: string | null, version: number, createdAt: string, updatedAt: string, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, lastTask: { id: string, status: TaskStatus, enqueuedAt: string, finishedAt: string | null, scheduledFor: string | null } | null } };

export type GetScheduleQueryVariables = Exact<{
  key: string;
  tenant?: string | null | undefined;
  upcoming: number;
  runs: number;
}>;


export type GetScheduleQuery = { schedule: { upcoming: Array<string>, id: string, tenant: string, key: string, cron: string, timezone: string, taskName: string, args: unknown, kwargs: unknown, queue: string, priority: number, maxAttempts: number, timeoutMs: number | null, resultTtlMs: number | null, concurrencyKey: string | null, overlap: OverlapPolicy, missed: MissedRunPolicy, paused: boolean, nextRunAt: string | null, lastRunAt: string | null, version: number, createdAt: string, updatedAt: string, runs: { edges: Array<{ node: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } }> }, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, lastTask: { id: string, status: TaskStatus, enqueuedAt: string, finishedAt: string | null, scheduledFor: string | null } | null } | null };

export type ListSchedulesQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
  withCount: boolean;
}>;


export type ListSchedulesQuery = { schedules: { totalCount?: number, edges: Array<{ cursor: string, node: { id: string, tenant: string, key: string, cron: string, timezone: string, taskName: string, args: unknown, kwargs: unknown, queue: string, priority: number, maxAttempts: number, timeoutMs: number | null, resultTtlMs: number | null, concurrencyKey: string | null, overlap: OverlapPolicy, missed: MissedRunPolicy, paused: boolean, nextRunAt: string | null, lastRunAt: string | null, version: number, createdAt: string, updatedAt: string, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, lastTask: { id: string, status: TaskStatus, enqueuedAt: string, finishedAt: string | null, scheduledFor: string | null } | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type PauseScheduleMutationVariables = Exact<{
  key: string;
  tenant?: string | null | undefined;
}>;


export type PauseScheduleMutation = { pauseSchedule: { id: string, tenant: string, key: string, cron: string, timezone: string, taskName: string, args: unknown, kwargs: unknown, queue: string, priority: number, maxAttempts: number, timeoutMs: number | null, resultTtlMs: number | null, concurrencyKey: string | null, overlap: OverlapPolicy, missed: MissedRunPolicy, paused: boolean, nextRunAt: string | null, lastRunAt: string | null, version: number, createdAt: string, updatedAt: string, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, lastTask: { id: string, status: TaskStatus, enqueuedAt: string, finishedAt: string | null, scheduledFor: string | null } | null } };

export type ResumeScheduleMutationVariables = Exact<{
  key: string;
  tenant?: string | null | undefined;
}>;


export type ResumeScheduleMutation = { resumeSchedule: { id: string, tenant: string, key: string, cron: string, timezone: string, taskName: string, args: unknown, kwargs: unknown, queue: string, priority: number, maxAttempts: number, timeoutMs: number | null, resultTtlMs: number | null, concurrencyKey: string | null, overlap: OverlapPolicy, missed: MissedRunPolicy, paused: boolean, nextRunAt: string | null, lastRunAt: string | null, version: number, createdAt: string, updatedAt: string, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, lastTask: { id: string, status: TaskStatus, enqueuedAt: string, finishedAt: string | null, scheduledFor: string | null } | null } };

export type DeleteScheduleMutationVariables = Exact<{
  key: string;
  tenant?: string | null | undefined;
}>;


export type DeleteScheduleMutation = { deleteSchedule: boolean };

export type TriggerScheduleMutationVariables = Exact<{
  key: string;
  tenant?: string | null | undefined;
}>;


export type TriggerScheduleMutation = { triggerSchedule: { args: unknown, kwargs: unknown, returnValue: unknown, id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, resultTtlMs: number | null, tenant: string, createdBy: string | null, outputBytes: number, concurrencyKey: string | null, waitReason: WaitReason | null, scheduledFor: string | null, stepRef: string | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null, backoff: { baseMs: number, maxMs: number, factor: number, jitter: number }, schedule: { id: string, key: string } | null, workflow: { id: string, name: string | null } | null, dependsOn: Array<{ id: string, stepRef: string | null }> } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const ClientBulkActionFragmentDoc = new TypedDocumentString(`
    fragment ClientBulkAction on BulkAction {
  id
  kind
  status
  matched
  processed
  changed
  version
  error
  createdAt
  finishedAt
}
    `, {"fragmentName":"ClientBulkAction"}) as unknown as TypedDocumentString<ClientBulkActionFragment, unknown>;
export const ClientEnqueuedTaskFragmentDoc = new TypedDocumentString(`
    fragment ClientEnqueuedTask on Task {
  id
  name
  queue
  priority
  status
  version
  attempts
  maxAttempts
  enqueuedAt
  runAfter
  idempotencyKey
  concurrencyKey
  timeoutMs
  resultTtlMs
  tenant
  createdBy
}
    `, {"fragmentName":"ClientEnqueuedTask"}) as unknown as TypedDocumentString<ClientEnqueuedTaskFragment, unknown>;
export const ClientTaskEventFragmentDoc = new TypedDocumentString(`
    fragment ClientTaskEvent on TaskEvent {
  taskId
  version
  type
  status
  at
  attempt
  workerId
  progress {
    current
    total
    message
    updatedAt
  }
  error {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  output
  cursor
}
    `, {"fragmentName":"ClientTaskEvent"}) as unknown as TypedDocumentString<ClientTaskEventFragment, unknown>;
export const ClientWorkflowHeadFragmentDoc = new TypedDocumentString(`
    fragment ClientWorkflowHead on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  stepCounts {
    total
    finished
    succeeded
  }
}
    `, {"fragmentName":"ClientWorkflowHead"}) as unknown as TypedDocumentString<ClientWorkflowHeadFragment, unknown>;
export const ClientBackoffFragmentDoc = new TypedDocumentString(`
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
    `, {"fragmentName":"ClientBackoff"}) as unknown as TypedDocumentString<ClientBackoffFragment, unknown>;
export const ClientTaskStateFragmentDoc = new TypedDocumentString(`
    fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}`, {"fragmentName":"ClientTaskState"}) as unknown as TypedDocumentString<ClientTaskStateFragment, unknown>;
export const ClientTaskFragmentDoc = new TypedDocumentString(`
    fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}`, {"fragmentName":"ClientTask"}) as unknown as TypedDocumentString<ClientTaskFragment, unknown>;
export const ClientWorkflowFragmentDoc = new TypedDocumentString(`
    fragment ClientWorkflow on Workflow {
  ...ClientWorkflowHead
  steps {
    ref
    dependsOn
    task {
      ...ClientTask
    }
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}
fragment ClientWorkflowHead on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  stepCounts {
    total
    finished
    succeeded
  }
}`, {"fragmentName":"ClientWorkflow"}) as unknown as TypedDocumentString<ClientWorkflowFragment, unknown>;
export const ClientWorkflowStateFragmentDoc = new TypedDocumentString(`
    fragment ClientWorkflowState on Workflow {
  ...ClientWorkflowHead
  steps {
    ref
    dependsOn
    task {
      ...ClientTaskState
    }
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientWorkflowHead on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  stepCounts {
    total
    finished
    succeeded
  }
}`, {"fragmentName":"ClientWorkflowState"}) as unknown as TypedDocumentString<ClientWorkflowStateFragment, unknown>;
export const ClientQueueFragmentDoc = new TypedDocumentString(`
    fragment ClientQueue on Queue {
  name
  paused
  pausedAt
  concurrency
  rateLimit {
    max
    perMs
  }
  perKeyConcurrency
  stats {
    queue
    pending
    running
    retrying
    succeeded
    failed
    cancelled
    total
    oldestPendingAgeMs
  }
}
    `, {"fragmentName":"ClientQueue"}) as unknown as TypedDocumentString<ClientQueueFragment, unknown>;
export const ClientScheduleFragmentDoc = new TypedDocumentString(`
    fragment ClientSchedule on Schedule {
  id
  tenant
  key
  cron
  timezone
  taskName
  args
  kwargs
  queue
  priority
  maxAttempts
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  concurrencyKey
  overlap
  missed
  paused
  nextRunAt
  lastRunAt
  version
  createdAt
  updatedAt
  lastTask {
    id
    status
    enqueuedAt
    finishedAt
    scheduledFor
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}`, {"fragmentName":"ClientSchedule"}) as unknown as TypedDocumentString<ClientScheduleFragment, unknown>;
export const CancelTasksDocument = new TypedDocumentString(`
    mutation CancelTasks($filter: TaskFilter!) {
  cancelTasks(filter: $filter) {
    ...ClientBulkAction
  }
}
    fragment ClientBulkAction on BulkAction {
  id
  kind
  status
  matched
  processed
  changed
  version
  error
  createdAt
  finishedAt
}`) as unknown as TypedDocumentString<CancelTasksMutation, CancelTasksMutationVariables>;
export const RetryTasksDocument = new TypedDocumentString(`
    mutation RetryTasks($filter: TaskFilter!) {
  retryTasks(filter: $filter) {
    ...ClientBulkAction
  }
}
    fragment ClientBulkAction on BulkAction {
  id
  kind
  status
  matched
  processed
  changed
  version
  error
  createdAt
  finishedAt
}`) as unknown as TypedDocumentString<RetryTasksMutation, RetryTasksMutationVariables>;
export const GetBulkActionDocument = new TypedDocumentString(`
    query GetBulkAction($id: ID!) {
  bulkAction(id: $id) {
    ...ClientBulkAction
  }
}
    fragment ClientBulkAction on BulkAction {
  id
  kind
  status
  matched
  processed
  changed
  version
  error
  createdAt
  finishedAt
}`) as unknown as TypedDocumentString<GetBulkActionQuery, GetBulkActionQueryVariables>;
export const WatchBulkActionDocument = new TypedDocumentString(`
    subscription WatchBulkAction($id: ID!) {
  bulkActionChanged(id: $id) {
    ...ClientBulkAction
  }
}
    fragment ClientBulkAction on BulkAction {
  id
  kind
  status
  matched
  processed
  changed
  version
  error
  createdAt
  finishedAt
}`) as unknown as TypedDocumentString<WatchBulkActionSubscription, WatchBulkActionSubscriptionVariables>;
export const EnqueueTaskDocument = new TypedDocumentString(`
    mutation EnqueueTask($input: EnqueueTaskInput!, $withReadToken: Boolean! = false) {
  enqueueTask(input: $input) {
    task {
      ...ClientTask
    }
    readToken @include(if: $withReadToken)
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}`) as unknown as TypedDocumentString<EnqueueTaskMutation, EnqueueTaskMutationVariables>;
export const EnqueueTasksDocument = new TypedDocumentString(`
    mutation EnqueueTasks($inputs: [EnqueueTaskInput!]!) {
  enqueueTasks(inputs: $inputs) {
    tasks {
      ...ClientEnqueuedTask
    }
  }
}
    fragment ClientEnqueuedTask on Task {
  id
  name
  queue
  priority
  status
  version
  attempts
  maxAttempts
  enqueuedAt
  runAfter
  idempotencyKey
  concurrencyKey
  timeoutMs
  resultTtlMs
  tenant
  createdBy
}`) as unknown as TypedDocumentString<EnqueueTasksMutation, EnqueueTasksMutationVariables>;
export const CreateReadTokenDocument = new TypedDocumentString(`
    mutation CreateReadToken($taskIds: [ID!]!, $ttlSeconds: Int) {
  createReadToken(taskIds: $taskIds, ttlSeconds: $ttlSeconds) {
    token
    expiresAt
  }
}
    `) as unknown as TypedDocumentString<CreateReadTokenMutation, CreateReadTokenMutationVariables>;
export const GetTaskDocument = new TypedDocumentString(`
    query GetTask($id: ID!) {
  taskResult(id: $id) {
    ...ClientTask
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}`) as unknown as TypedDocumentString<GetTaskQuery, GetTaskQueryVariables>;
export const ListTasksDocument = new TypedDocumentString(`
    query ListTasks($first: Int!, $after: String, $filter: TaskFilter, $withCount: Boolean!) {
  tasks(first: $first, after: $after, filter: $filter) {
    edges {
      cursor
      node {
        ...ClientTask
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
    totalCount @include(if: $withCount)
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}`) as unknown as TypedDocumentString<ListTasksQuery, ListTasksQueryVariables>;
export const CancelTaskDocument = new TypedDocumentString(`
    mutation CancelTask($id: ID!) {
  cancelTask(id: $id) {
    ...ClientTask
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}`) as unknown as TypedDocumentString<CancelTaskMutation, CancelTaskMutationVariables>;
export const RetryTaskDocument = new TypedDocumentString(`
    mutation RetryTask($id: ID!) {
  retryTask(id: $id) {
    ...ClientTask
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}`) as unknown as TypedDocumentString<RetryTaskMutation, RetryTaskMutationVariables>;
export const RunTaskNowDocument = new TypedDocumentString(`
    mutation RunTaskNow($id: ID!) {
  runTaskNow(id: $id) {
    ...ClientTask
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}`) as unknown as TypedDocumentString<RunTaskNowMutation, RunTaskNowMutationVariables>;
export const CancelTaskStateDocument = new TypedDocumentString(`
    mutation CancelTaskState($id: ID!) {
  cancelTask(id: $id) {
    ...ClientTaskState
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}`) as unknown as TypedDocumentString<CancelTaskStateMutation, CancelTaskStateMutationVariables>;
export const RetryTaskStateDocument = new TypedDocumentString(`
    mutation RetryTaskState($id: ID!) {
  retryTask(id: $id) {
    ...ClientTaskState
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}`) as unknown as TypedDocumentString<RetryTaskStateMutation, RetryTaskStateMutationVariables>;
export const RunTaskNowStateDocument = new TypedDocumentString(`
    mutation RunTaskNowState($id: ID!) {
  runTaskNow(id: $id) {
    ...ClientTaskState
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}`) as unknown as TypedDocumentString<RunTaskNowStateMutation, RunTaskNowStateMutationVariables>;
export const QueueStatsDocument = new TypedDocumentString(`
    query QueueStats {
  queueStats {
    queue
    blocked
    pending
    running
    retrying
    succeeded
    failed
    cancelled
    total
    oldestPendingAgeMs
  }
}
    `) as unknown as TypedDocumentString<QueueStatsQuery, QueueStatsQueryVariables>;
export const FollowTaskEventsDocument = new TypedDocumentString(`
    subscription FollowTaskEvents($id: ID!, $afterVersion: Int!, $types: [TaskEventType!]) {
  taskEvents(id: $id, afterVersion: $afterVersion, types: $types) {
    ...ClientTaskEvent
  }
}
    fragment ClientTaskEvent on TaskEvent {
  taskId
  version
  type
  status
  at
  attempt
  workerId
  progress {
    current
    total
    message
    updatedAt
  }
  error {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  output
  cursor
}`) as unknown as TypedDocumentString<FollowTaskEventsSubscription, FollowTaskEventsSubscriptionVariables>;
export const TaskVersionDocument = new TypedDocumentString(`
    query TaskVersion($id: ID!) {
  taskResult(id: $id) {
    id
    version
    isFinished
  }
}
    `) as unknown as TypedDocumentString<TaskVersionQuery, TaskVersionQueryVariables>;
export const TaskEventPageDocument = new TypedDocumentString(`
    query TaskEventPage($id: ID!, $first: Int!, $after: String, $types: [TaskEventType!]) {
  taskResult(id: $id) {
    id
    events(first: $first, after: $after, types: $types) {
      edges {
        node {
          ...ClientTaskEvent
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
}
    fragment ClientTaskEvent on TaskEvent {
  taskId
  version
  type
  status
  at
  attempt
  workerId
  progress {
    current
    total
    message
    updatedAt
  }
  error {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  output
  cursor
}`) as unknown as TypedDocumentString<TaskEventPageQuery, TaskEventPageQueryVariables>;
export const EnqueueWorkflowDocument = new TypedDocumentString(`
    mutation EnqueueWorkflow($input: EnqueueWorkflowInput!) {
  enqueueWorkflow(input: $input) {
    workflow {
      ...ClientWorkflow
    }
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}
fragment ClientWorkflowHead on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  stepCounts {
    total
    finished
    succeeded
  }
}
fragment ClientWorkflow on Workflow {
  ...ClientWorkflowHead
  steps {
    ref
    dependsOn
    task {
      ...ClientTask
    }
  }
}`) as unknown as TypedDocumentString<EnqueueWorkflowMutation, EnqueueWorkflowMutationVariables>;
export const GetWorkflowDocument = new TypedDocumentString(`
    query GetWorkflow($id: ID!) {
  workflow(id: $id) {
    ...ClientWorkflow
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}
fragment ClientWorkflowHead on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  stepCounts {
    total
    finished
    succeeded
  }
}
fragment ClientWorkflow on Workflow {
  ...ClientWorkflowHead
  steps {
    ref
    dependsOn
    task {
      ...ClientTask
    }
  }
}`) as unknown as TypedDocumentString<GetWorkflowQuery, GetWorkflowQueryVariables>;
export const CancelWorkflowDocument = new TypedDocumentString(`
    mutation CancelWorkflow($id: ID!) {
  cancelWorkflow(id: $id) {
    ...ClientWorkflow
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}
fragment ClientWorkflowHead on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  stepCounts {
    total
    finished
    succeeded
  }
}
fragment ClientWorkflow on Workflow {
  ...ClientWorkflowHead
  steps {
    ref
    dependsOn
    task {
      ...ClientTask
    }
  }
}`) as unknown as TypedDocumentString<CancelWorkflowMutation, CancelWorkflowMutationVariables>;
export const CancelWorkflowStateDocument = new TypedDocumentString(`
    mutation CancelWorkflowState($id: ID!) {
  cancelWorkflow(id: $id) {
    ...ClientWorkflowState
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientWorkflowHead on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  stepCounts {
    total
    finished
    succeeded
  }
}
fragment ClientWorkflowState on Workflow {
  ...ClientWorkflowHead
  steps {
    ref
    dependsOn
    task {
      ...ClientTaskState
    }
  }
}`) as unknown as TypedDocumentString<CancelWorkflowStateMutation, CancelWorkflowStateMutationVariables>;
export const WatchWorkflowDocument = new TypedDocumentString(`
    subscription WatchWorkflow($id: ID!) {
  workflowChanged(id: $id) {
    ...ClientWorkflow
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}
fragment ClientWorkflowHead on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  stepCounts {
    total
    finished
    succeeded
  }
}
fragment ClientWorkflow on Workflow {
  ...ClientWorkflowHead
  steps {
    ref
    dependsOn
    task {
      ...ClientTask
    }
  }
}`) as unknown as TypedDocumentString<WatchWorkflowSubscription, WatchWorkflowSubscriptionVariables>;
export const TaskEventFeedCursorDocument = new TypedDocumentString(`
    query TaskEventFeedCursor {
  taskEventFeedCursor
}
    `) as unknown as TypedDocumentString<TaskEventFeedCursorQuery, TaskEventFeedCursorQueryVariables>;
export const FollowTaskEventFeedDocument = new TypedDocumentString(`
    subscription FollowTaskEventFeed($filter: TaskFilter, $after: String) {
  taskEventFeed(filter: $filter, after: $after) {
    ...ClientTaskEvent
  }
}
    fragment ClientTaskEvent on TaskEvent {
  taskId
  version
  type
  status
  at
  attempt
  workerId
  progress {
    current
    total
    message
    updatedAt
  }
  error {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  output
  cursor
}`) as unknown as TypedDocumentString<FollowTaskEventFeedSubscription, FollowTaskEventFeedSubscriptionVariables>;
export const FollowTaskEventFeedWithTaskDocument = new TypedDocumentString(`
    subscription FollowTaskEventFeedWithTask($filter: TaskFilter, $after: String) {
  taskEventFeed(filter: $filter, after: $after) {
    ...ClientTaskEvent
    task {
      ...ClientTask
    }
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}
fragment ClientTaskEvent on TaskEvent {
  taskId
  version
  type
  status
  at
  attempt
  workerId
  progress {
    current
    total
    message
    updatedAt
  }
  error {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  output
  cursor
}`) as unknown as TypedDocumentString<FollowTaskEventFeedWithTaskSubscription, FollowTaskEventFeedWithTaskSubscriptionVariables>;
export const ListQueuesDocument = new TypedDocumentString(`
    query ListQueues {
  queues {
    ...ClientQueue
  }
}
    fragment ClientQueue on Queue {
  name
  paused
  pausedAt
  concurrency
  rateLimit {
    max
    perMs
  }
  perKeyConcurrency
  stats {
    queue
    pending
    running
    retrying
    succeeded
    failed
    cancelled
    total
    oldestPendingAgeMs
  }
}`) as unknown as TypedDocumentString<ListQueuesQuery, ListQueuesQueryVariables>;
export const PauseQueueDocument = new TypedDocumentString(`
    mutation PauseQueue($name: String!) {
  pauseQueue(name: $name) {
    ...ClientQueue
  }
}
    fragment ClientQueue on Queue {
  name
  paused
  pausedAt
  concurrency
  rateLimit {
    max
    perMs
  }
  perKeyConcurrency
  stats {
    queue
    pending
    running
    retrying
    succeeded
    failed
    cancelled
    total
    oldestPendingAgeMs
  }
}`) as unknown as TypedDocumentString<PauseQueueMutation, PauseQueueMutationVariables>;
export const ResumeQueueDocument = new TypedDocumentString(`
    mutation ResumeQueue($name: String!) {
  resumeQueue(name: $name) {
    ...ClientQueue
  }
}
    fragment ClientQueue on Queue {
  name
  paused
  pausedAt
  concurrency
  rateLimit {
    max
    perMs
  }
  perKeyConcurrency
  stats {
    queue
    pending
    running
    retrying
    succeeded
    failed
    cancelled
    total
    oldestPendingAgeMs
  }
}`) as unknown as TypedDocumentString<ResumeQueueMutation, ResumeQueueMutationVariables>;
export const SetQueueLimitsDocument = new TypedDocumentString(`
    mutation SetQueueLimits($name: String!, $limits: QueueLimitsInput!) {
  setQueueLimits(name: $name, limits: $limits) {
    ...ClientQueue
  }
}
    fragment ClientQueue on Queue {
  name
  paused
  pausedAt
  concurrency
  rateLimit {
    max
    perMs
  }
  perKeyConcurrency
  stats {
    queue
    pending
    running
    retrying
    succeeded
    failed
    cancelled
    total
    oldestPendingAgeMs
  }
}`) as unknown as TypedDocumentString<SetQueueLimitsMutation, SetQueueLimitsMutationVariables>;
export const UpsertScheduleDocument = new TypedDocumentString(`
    mutation UpsertSchedule($input: UpsertScheduleInput!) {
  upsertSchedule(input: $input) {
    ...ClientSchedule
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientSchedule on Schedule {
  id
  tenant
  key
  cron
  timezone
  taskName
  args
  kwargs
  queue
  priority
  maxAttempts
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  concurrencyKey
  overlap
  missed
  paused
  nextRunAt
  lastRunAt
  version
  createdAt
  updatedAt
  lastTask {
    id
    status
    enqueuedAt
    finishedAt
    scheduledFor
  }
}`) as unknown as TypedDocumentString<UpsertScheduleMutation, UpsertScheduleMutationVariables>;
export const GetScheduleDocument = new TypedDocumentString(`
    query GetSchedule($key: String!, $tenant: String, $upcoming: Int!, $runs: Int!) {
  schedule(key: $key, tenant: $tenant) {
    ...ClientSchedule
    upcoming(count: $upcoming)
    runs(first: $runs) {
      edges {
        node {
          ...ClientTask
        }
      }
    }
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}
fragment ClientSchedule on Schedule {
  id
  tenant
  key
  cron
  timezone
  taskName
  args
  kwargs
  queue
  priority
  maxAttempts
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  concurrencyKey
  overlap
  missed
  paused
  nextRunAt
  lastRunAt
  version
  createdAt
  updatedAt
  lastTask {
    id
    status
    enqueuedAt
    finishedAt
    scheduledFor
  }
}`) as unknown as TypedDocumentString<GetScheduleQuery, GetScheduleQueryVariables>;
export const ListSchedulesDocument = new TypedDocumentString(`
    query ListSchedules($first: Int!, $after: String, $withCount: Boolean!) {
  schedules(first: $first, after: $after) {
    edges {
      cursor
      node {
        ...ClientSchedule
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
    totalCount @include(if: $withCount)
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientSchedule on Schedule {
  id
  tenant
  key
  cron
  timezone
  taskName
  args
  kwargs
  queue
  priority
  maxAttempts
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  concurrencyKey
  overlap
  missed
  paused
  nextRunAt
  lastRunAt
  version
  createdAt
  updatedAt
  lastTask {
    id
    status
    enqueuedAt
    finishedAt
    scheduledFor
  }
}`) as unknown as TypedDocumentString<ListSchedulesQuery, ListSchedulesQueryVariables>;
export const PauseScheduleDocument = new TypedDocumentString(`
    mutation PauseSchedule($key: String!, $tenant: String) {
  pauseSchedule(key: $key, tenant: $tenant) {
    ...ClientSchedule
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientSchedule on Schedule {
  id
  tenant
  key
  cron
  timezone
  taskName
  args
  kwargs
  queue
  priority
  maxAttempts
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  concurrencyKey
  overlap
  missed
  paused
  nextRunAt
  lastRunAt
  version
  createdAt
  updatedAt
  lastTask {
    id
    status
    enqueuedAt
    finishedAt
    scheduledFor
  }
}`) as unknown as TypedDocumentString<PauseScheduleMutation, PauseScheduleMutationVariables>;
export const ResumeScheduleDocument = new TypedDocumentString(`
    mutation ResumeSchedule($key: String!, $tenant: String) {
  resumeSchedule(key: $key, tenant: $tenant) {
    ...ClientSchedule
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientSchedule on Schedule {
  id
  tenant
  key
  cron
  timezone
  taskName
  args
  kwargs
  queue
  priority
  maxAttempts
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  concurrencyKey
  overlap
  missed
  paused
  nextRunAt
  lastRunAt
  version
  createdAt
  updatedAt
  lastTask {
    id
    status
    enqueuedAt
    finishedAt
    scheduledFor
  }
}`) as unknown as TypedDocumentString<ResumeScheduleMutation, ResumeScheduleMutationVariables>;
export const DeleteScheduleDocument = new TypedDocumentString(`
    mutation DeleteSchedule($key: String!, $tenant: String) {
  deleteSchedule(key: $key, tenant: $tenant)
}
    `) as unknown as TypedDocumentString<DeleteScheduleMutation, DeleteScheduleMutationVariables>;
export const TriggerScheduleDocument = new TypedDocumentString(`
    mutation TriggerSchedule($key: String!, $tenant: String) {
  triggerSchedule(key: $key, tenant: $tenant) {
    ...ClientTask
  }
}
    fragment ClientBackoff on Backoff {
  baseMs
  maxMs
  factor
  jitter
}
fragment ClientTaskState on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
  attempts
  maxAttempts
  workerIds
  enqueuedAt
  runAfter
  startedAt
  finishedAt
  lastAttemptedAt
  durationMs
  cancelRequested
  expiresAt
  idempotencyKey
  timeoutMs
  resultTtlMs
  backoff {
    ...ClientBackoff
  }
  tenant
  createdBy
  outputBytes
  concurrencyKey
  waitReason
  scheduledFor
  schedule {
    id
    key
  }
  workflow {
    id
    name
  }
  stepRef
  dependsOn {
    id
    stepRef
  }
}
fragment ClientTask on Task {
  ...ClientTaskState
  args
  kwargs
  returnValue
  errors {
    exceptionType
    message
    traceback
    attempt
    at
    workerId
  }
  progress {
    current
    total
    message
    updatedAt
  }
}`) as unknown as TypedDocumentString<TriggerScheduleMutation, TriggerScheduleMutationVariables>;