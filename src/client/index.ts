/**
 * The typed client of a taskwire server (GraphQL over HTTP; watches, events and output over graphql-ws):
 * `import { createClient } from 'taskwire/client'`. It imports nothing of the server.
 */
export {
  createClient,
  type AnswerOptions,
  type BackoffOptions,
  type ClientOptions,
  type EnqueueManyItem,
  type EnqueuedTask,
  type EnqueueOptions,
  type EnqueueWithReadTokenOptions,
  type EventsOptions,
  type ListOptions,
  type OutputChunk,
  type OutputOptions,
  type QueueStats,
  type Task,
  type TaskEvent,
  type TaskEventType,
  type TaskFilter,
  type TaskPage,
  type TaskState,
  type TaskStatus,
  type TaskTypes,
  type TaskwireClient,
  type TokenSource,
  type WaitOptions,
  type WatchOptions,
} from './client.js';
export {
  ConnectionError,
  ForbiddenError,
  PayloadForbiddenError,
  RateLimitedError,
  RequestError,
  TaskCancelledError,
  TaskFailedError,
  TaskwireClientError,
  UnauthenticatedError,
  WaitTimeoutError,
  type ClientErrorCode,
  type ClientOnlyErrorCode,
  type GraphQLErrorPayload,
  type ServerErrorCode,
} from './errors.js';
export { STATE_EVENT_TYPES, type WaitReason } from './task-state.js';
export { chain, chord, group, type CanvasTask } from './canvas.js';
export type {
  DependencyFailurePolicy,
  EnqueueWorkflowInput,
  WatchWorkflowOptions,
  Workflow,
  WorkflowClient,
  WorkflowState,
  WorkflowStatus,
  WorkflowStep,
  WorkflowStepInput,
} from './workflows.js';
export type {
  GetScheduleOptions,
  ListSchedulesOptions,
  MissedRunPolicy,
  OverlapPolicy,
  Schedule,
  ScheduleClient,
  ScheduleDetail,
  ScheduleKeyOptions,
  SchedulePage,
  UpsertScheduleInput,
} from './schedules.js';
export type { RetryOptions } from './ws.js';
export type { FeedClient, FeedEventWithTask, FeedOptions } from './task-feed.js';
export type { BulkAction, BulkActionClient, BulkActionKind, BulkActionStatus, WatchBulkActionOptions } from './bulk-actions.js';
export type { QueueClient, QueueInfo, QueueLimitsInput } from './queues.js';
export type { CreateReadTokenOptions, EnqueuedWithReadToken, ReadToken, ReadTokenClient } from './read-tokens.js';
