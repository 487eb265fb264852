/** The package's public API: the queue core, usable from TypeScript without GraphQL. */
export { loadConfig, type Config } from './config.js';
export { createDeps, type Deps } from './deps.js';
export { createDb, type Db } from './db/client.js';
export { migrateDatabase } from './db/migrate.js';
export { transaction } from './db/transaction.js';
export { createLogger, silentLogger, type Logger } from './logger.js';
export {
  AppError,
  BadUserInputError,
  ConfigError,
  ConflictError,
  DatabaseUnavailableError,
  ForbiddenError,
  InvalidArgumentsError,
  isDatabaseUnavailable,
  NotFoundError,
  RateLimitedError,
  ShuttingDownError,
  TaskWaitTimeoutError,
  UnauthenticatedError,
  UnknownTaskError,
  type AppErrorCode,
  type ErrorCode,
} from './errors.js';
export { createQueue, type Queue, type EnqueueInput, type EnqueueOptions, type EnqueueManyOptions, type ListParams, type TaskFilter, type TaskPage } from './queue/index.js';
export type { Task, TaskError, TaskProgress, Backoff } from './queue/task.js';
export {
  chain,
  group,
  chord,
  WORKFLOWS_CHANNEL,
  type DependencyFailurePolicy,
  type EnqueueWorkflowInput,
  type EnqueueWorkflowOptions,
  type Workflow,
  type Workflows,
  type WorkflowStatus,
  type WorkflowStep,
  type WorkflowStepInput,
  type WorkflowStepCounts,
} from './queue/workflows/index.js';
export { TASK_STATUSES, TERMINAL_STATUSES, isTerminal, type TaskStatus } from './queue/states.js';
export { defineTask, taskInput, type TaskArgs, type TaskContext, type TaskDefinition, type TaskInputOptions, type TaskKwargs, type TaskResult } from './worker/define-task.js';
export { createRegistry, loadTaskModules, type Registry } from './worker/registry.js';
export { syncDeclaredSchedules, type DeclaredSchedule, type ScheduleDeclaration, type ScheduleSyncResult } from './worker/declared-schedules.js';
export { createRunner, type Runner, type RunnerEvents, type RunnerOptions } from './worker/runner.js';
// What a helper of the user's own (a test's wait, a drain) reads: the runner's outcomes, the event log's records, the stats.
export type { Outcome } from './worker/execute-task.js';
export type { ListEventsParams, TaskEventPage, TaskEventRecord } from './queue/event-log.js';
export type { QueueStats } from './queue/stats.js';
export { type WaitForTaskOptions } from './queue/wait-for-task.js';
export { logTaskLifecycle, type TaskLifecycleLog } from './metrics/task-log.js';
export { runHandler, type HandlerRun, type HandlerRunOptions, type Jsonified } from './worker/run-handler.js';
export { MAX_OUTPUT_CHUNK_BYTES, OutputChunkReservedError, OutputChunkTooLargeError } from './worker/output-writer.js';
// What ctx.output throws for a chunk that is not JSON (and what a handler can test with instanceof).
export { JsonEncodeError, MAX_JSON_DEPTH } from './queue/json.js';
export { NonRetryableError } from './worker/non-retryable-error.js';
export { createClient, ConnectionError, RequestError, TaskCancelledError, TaskFailedError, TaskwireClientError, WaitTimeoutError, type ClientOptions, type TaskwireClient } from './client/index.js';
