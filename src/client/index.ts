/**
 * The typed client of a taskwire server (GraphQL over HTTP, watches over graphql-ws):
 * `import { createClient } from 'taskwire/client'`. It imports nothing of the server.
 */
export {
  createClient,
  type ClientOptions,
  type EnqueueOptions,
  type ListOptions,
  type QueueStats,
  type Task,
  type TaskFilter,
  type TaskPage,
  type TaskStatus,
  type TaskwireClient,
  type WaitOptions,
  type WatchOptions,
} from './client.js';
export {
  ConnectionError,
  RequestError,
  TaskCancelledError,
  TaskFailedError,
  TaskwireClientError,
  WaitTimeoutError,
  type ClientErrorCode,
  type ClientOnlyErrorCode,
  type GraphQLErrorPayload,
  type ServerErrorCode,
} from './errors.js';
export type { RetryOptions } from './ws.js';
