/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "fragment ClientTask on Task {\n  id\n  name\n  queue\n  priority\n  status\n  isFinished\n  version\n  args\n  kwargs\n  returnValue\n  errors {\n    exceptionType\n    message\n    traceback\n    attempt\n    at\n    workerId\n  }\n  attempts\n  maxAttempts\n  workerIds\n  progress {\n    current\n    total\n    message\n    updatedAt\n  }\n  enqueuedAt\n  runAfter\n  startedAt\n  finishedAt\n  lastAttemptedAt\n  durationMs\n  cancelRequested\n  expiresAt\n  idempotencyKey\n  timeoutMs\n}\n\nmutation EnqueueTask($input: EnqueueTaskInput!) {\n  enqueueTask(input: $input) {\n    task {\n      ...ClientTask\n    }\n  }\n}\n\nquery GetTask($id: ID!) {\n  taskResult(id: $id) {\n    ...ClientTask\n  }\n}\n\nquery ListTasks($first: Int!, $after: String, $filter: TaskFilter, $withCount: Boolean!) {\n  tasks(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...ClientTask\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    totalCount @include(if: $withCount)\n  }\n}\n\nmutation CancelTask($id: ID!) {\n  cancelTask(id: $id) {\n    ...ClientTask\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...ClientTask\n  }\n}\n\nquery QueueStats {\n  queueStats {\n    queue\n    pending\n    running\n    retrying\n    succeeded\n    failed\n    cancelled\n    total\n    oldestPendingAgeMs\n  }\n}\n\nsubscription WatchTask($id: ID!) {\n  taskStatusChanged(id: $id) {\n    ...ClientTask\n  }\n}": typeof types.ClientTaskFragmentDoc,
};
const documents: Documents = {
    "fragment ClientTask on Task {\n  id\n  name\n  queue\n  priority\n  status\n  isFinished\n  version\n  args\n  kwargs\n  returnValue\n  errors {\n    exceptionType\n    message\n    traceback\n    attempt\n    at\n    workerId\n  }\n  attempts\n  maxAttempts\n  workerIds\n  progress {\n    current\n    total\n    message\n    updatedAt\n  }\n  enqueuedAt\n  runAfter\n  startedAt\n  finishedAt\n  lastAttemptedAt\n  durationMs\n  cancelRequested\n  expiresAt\n  idempotencyKey\n  timeoutMs\n}\n\nmutation EnqueueTask($input: EnqueueTaskInput!) {\n  enqueueTask(input: $input) {\n    task {\n      ...ClientTask\n    }\n  }\n}\n\nquery GetTask($id: ID!) {\n  taskResult(id: $id) {\n    ...ClientTask\n  }\n}\n\nquery ListTasks($first: Int!, $after: String, $filter: TaskFilter, $withCount: Boolean!) {\n  tasks(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...ClientTask\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    totalCount @include(if: $withCount)\n  }\n}\n\nmutation CancelTask($id: ID!) {\n  cancelTask(id: $id) {\n    ...ClientTask\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...ClientTask\n  }\n}\n\nquery QueueStats {\n  queueStats {\n    queue\n    pending\n    running\n    retrying\n    succeeded\n    failed\n    cancelled\n    total\n    oldestPendingAgeMs\n  }\n}\n\nsubscription WatchTask($id: ID!) {\n  taskStatusChanged(id: $id) {\n    ...ClientTask\n  }\n}": types.ClientTaskFragmentDoc,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment ClientTask on Task {\n  id\n  name\n  queue\n  priority\n  status\n  isFinished\n  version\n  args\n  kwargs\n  returnValue\n  errors {\n    exceptionType\n    message\n    traceback\n    attempt\n    at\n    workerId\n  }\n  attempts\n  maxAttempts\n  workerIds\n  progress {\n    current\n    total\n    message\n    updatedAt\n  }\n  enqueuedAt\n  runAfter\n  startedAt\n  finishedAt\n  lastAttemptedAt\n  durationMs\n  cancelRequested\n  expiresAt\n  idempotencyKey\n  timeoutMs\n}\n\nmutation EnqueueTask($input: EnqueueTaskInput!) {\n  enqueueTask(input: $input) {\n    task {\n      ...ClientTask\n    }\n  }\n}\n\nquery GetTask($id: ID!) {\n  taskResult(id: $id) {\n    ...ClientTask\n  }\n}\n\nquery ListTasks($first: Int!, $after: String, $filter: TaskFilter, $withCount: Boolean!) {\n  tasks(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...ClientTask\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    totalCount @include(if: $withCount)\n  }\n}\n\nmutation CancelTask($id: ID!) {\n  cancelTask(id: $id) {\n    ...ClientTask\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...ClientTask\n  }\n}\n\nquery QueueStats {\n  queueStats {\n    queue\n    pending\n    running\n    retrying\n    succeeded\n    failed\n    cancelled\n    total\n    oldestPendingAgeMs\n  }\n}\n\nsubscription WatchTask($id: ID!) {\n  taskStatusChanged(id: $id) {\n    ...ClientTask\n  }\n}"): typeof import('./graphql.js').ClientTaskFragmentDoc;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
