/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** What becomes of a step when a parent FAILED or was CANCELLED: CANCEL it (and its dependents), or RUN_ANYWAY once every parent ended. */
export type DependencyFailurePolicy =
  | 'CANCEL'
  | 'RUN_ANYWAY';

/** Unset options fall back to the task definition's, then to the defaults. */
export type EnqueueTaskInput = {
  /** Positional arguments: a JSON array (default []). */
  args?: unknown;
  /** Same key again: the first task is returned, no second one is made. */
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
  /** Do not run before this time. */
  runAfter?: string | null | undefined;
};

export type EnqueueWorkflowInput = {
  /** Same key again (same tenant): the stored workflow is returned, nothing new is made. */
  idempotencyKey?: string | null | undefined;
  /** A label for people. */
  name?: string | null | undefined;
  steps: Array<WorkflowStepInput>;
};

/** What an entry of a task’s event log records. */
export type TaskEventType =
  | 'CANCELLED'
  | 'CANCEL_REQUESTED'
  | 'ENQUEUED'
  | 'FAILED'
  | 'OUTPUT'
  | 'PROGRESS'
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
  /** Any of these statuses. */
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

export type ClientTaskFragment = { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null };

export type EnqueueTaskMutationVariables = Exact<{
  input: EnqueueTaskInput;
}>;


export type EnqueueTaskMutation = { enqueueTask: { task: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } } };

export type GetTaskQueryVariables = Exact<{
  id: string | number;
}>;


export type GetTaskQuery = { taskResult: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } | null };

export type ListTasksQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
  filter?: TaskFilter | null | undefined;
  withCount: boolean;
}>;


export type ListTasksQuery = { tasks: { totalCount?: number, edges: Array<{ cursor: string, node: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CancelTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type CancelTaskMutation = { cancelTask: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } };

export type RetryTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type RetryTaskMutation = { retryTask: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } };

export type QueueStatsQueryVariables = Exact<{ [key: string]: never; }>;


export type QueueStatsQuery = { queueStats: Array<{ queue: string, pending: number, running: number, retrying: number, succeeded: number, failed: number, cancelled: number, total: number, oldestPendingAgeMs: number | null }> };

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

export type ClientWorkflowFragment = { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } }> };

export type EnqueueWorkflowMutationVariables = Exact<{
  input: EnqueueWorkflowInput;
}>;


export type EnqueueWorkflowMutation = { enqueueWorkflow: { workflow: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } }> } } };

export type GetWorkflowQueryVariables = Exact<{
  id: string | number;
}>;


export type GetWorkflowQuery = { workflow: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } }> } | null };

export type CancelWorkflowMutationVariables = Exact<{
  id: string | number;
}>;


export type CancelWorkflowMutation = { cancelWorkflow: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } }> } };

export type WatchWorkflowSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type WatchWorkflowSubscription = { workflowChanged: { id: string, name: string | null, status: WorkflowStatus, version: number, createdAt: string, finishedAt: string | null, steps: Array<{ ref: string, dependsOn: Array<string>, task: { id: string, name: string, queue: string, priority: number, status: TaskStatus, isFinished: boolean, version: number, args: unknown, kwargs: unknown, returnValue: unknown, attempts: number, maxAttempts: number, workerIds: Array<string>, enqueuedAt: string, runAfter: string | null, startedAt: string | null, finishedAt: string | null, lastAttemptedAt: string | null, durationMs: number | null, cancelRequested: boolean, expiresAt: string | null, idempotencyKey: string | null, timeoutMs: number | null, errors: Array<{ exceptionType: string, message: string, traceback: string | null, attempt: number, at: string, workerId: string | null }>, progress: { current: number | null, total: number | null, message: string | null, updatedAt: string } | null } }> } };

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
export const ClientTaskFragmentDoc = new TypedDocumentString(`
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}
    `, {"fragmentName":"ClientTask"}) as unknown as TypedDocumentString<ClientTaskFragment, unknown>;
export const ClientWorkflowFragmentDoc = new TypedDocumentString(`
    fragment ClientWorkflow on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  steps {
    ref
    dependsOn
    task {
      ...ClientTask
    }
  }
}
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}`, {"fragmentName":"ClientWorkflow"}) as unknown as TypedDocumentString<ClientWorkflowFragment, unknown>;
export const EnqueueTaskDocument = new TypedDocumentString(`
    mutation EnqueueTask($input: EnqueueTaskInput!) {
  enqueueTask(input: $input) {
    task {
      ...ClientTask
    }
  }
}
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}`) as unknown as TypedDocumentString<EnqueueTaskMutation, EnqueueTaskMutationVariables>;
export const GetTaskDocument = new TypedDocumentString(`
    query GetTask($id: ID!) {
  taskResult(id: $id) {
    ...ClientTask
  }
}
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}`) as unknown as TypedDocumentString<ListTasksQuery, ListTasksQueryVariables>;
export const CancelTaskDocument = new TypedDocumentString(`
    mutation CancelTask($id: ID!) {
  cancelTask(id: $id) {
    ...ClientTask
  }
}
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}`) as unknown as TypedDocumentString<CancelTaskMutation, CancelTaskMutationVariables>;
export const RetryTaskDocument = new TypedDocumentString(`
    mutation RetryTask($id: ID!) {
  retryTask(id: $id) {
    ...ClientTask
  }
}
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}`) as unknown as TypedDocumentString<RetryTaskMutation, RetryTaskMutationVariables>;
export const QueueStatsDocument = new TypedDocumentString(`
    query QueueStats {
  queueStats {
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
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}
fragment ClientWorkflow on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
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
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}
fragment ClientWorkflow on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
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
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}
fragment ClientWorkflow on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  steps {
    ref
    dependsOn
    task {
      ...ClientTask
    }
  }
}`) as unknown as TypedDocumentString<CancelWorkflowMutation, CancelWorkflowMutationVariables>;
export const WatchWorkflowDocument = new TypedDocumentString(`
    subscription WatchWorkflow($id: ID!) {
  workflowChanged(id: $id) {
    ...ClientWorkflow
  }
}
    fragment ClientTask on Task {
  id
  name
  queue
  priority
  status
  isFinished
  version
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
  attempts
  maxAttempts
  workerIds
  progress {
    current
    total
    message
    updatedAt
  }
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
}
fragment ClientWorkflow on Workflow {
  id
  name
  status
  version
  createdAt
  finishedAt
  steps {
    ref
    dependsOn
    task {
      ...ClientTask
    }
  }
}`) as unknown as TypedDocumentString<WatchWorkflowSubscription, WatchWorkflowSubscriptionVariables>;