/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

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
    "subscription TaskStatusChanged($id: ID!) {\n  taskStatusChanged(id: $id) {\n    ...TaskFields\n  }\n}\n\nsubscription TaskVersion($id: ID!) {\n  taskStatusChanged(id: $id) {\n    id\n    status\n    version\n  }\n}\n\nsubscription TaskChanges($filter: TaskFilter) {\n  taskStatusChanged(filter: $filter) {\n    id\n    name\n    status\n    version\n  }\n}": typeof types.TaskStatusChangedDocument,
    "fragment TaskFields on Task {\n  id\n  name\n  queue\n  priority\n  status\n  isFinished\n  version\n  args\n  kwargs\n  returnValue\n  errors {\n    exceptionType\n    message\n    traceback\n    attempt\n    at\n    workerId\n  }\n  attempts\n  maxAttempts\n  workerIds\n  progress {\n    current\n    total\n    message\n    updatedAt\n  }\n  enqueuedAt\n  runAfter\n  startedAt\n  finishedAt\n  lastAttemptedAt\n  durationMs\n  cancelRequested\n  expiresAt\n  idempotencyKey\n}\n\nmutation EnqueueTask($input: EnqueueTaskInput!) {\n  enqueueTask(input: $input) {\n    task {\n      ...TaskFields\n    }\n  }\n}\n\nmutation CancelTask($id: ID!) {\n  cancelTask(id: $id) {\n    ...TaskFields\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...TaskFields\n  }\n}\n\nquery TaskResult($id: ID!) {\n  taskResult(id: $id) {\n    ...TaskFields\n  }\n}\n\nquery Node($id: ID!) {\n  node(id: $id) {\n    __typename\n    id\n    ... on Task {\n      name\n      status\n    }\n  }\n}\n\nquery QueueStats {\n  queueStats {\n    queue\n    counts {\n      status\n      count\n    }\n    pending\n    running\n    retrying\n    succeeded\n    failed\n    cancelled\n    total\n    oldestPendingAgeMs\n  }\n}": typeof types.TaskFieldsFragmentDoc,
    "query Tasks($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter) {\n  tasks(\n    first: $first\n    after: $after\n    last: $last\n    before: $before\n    filter: $filter\n  ) {\n    edges {\n      cursor\n      node {\n        id\n        name\n        queue\n        status\n      }\n    }\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n  }\n}\n\nquery TaskCount($filter: TaskFilter) {\n  tasks(first: 1, filter: $filter) {\n    totalCount\n  }\n}": typeof types.TasksDocument,
};
const documents: Documents = {
    "subscription TaskStatusChanged($id: ID!) {\n  taskStatusChanged(id: $id) {\n    ...TaskFields\n  }\n}\n\nsubscription TaskVersion($id: ID!) {\n  taskStatusChanged(id: $id) {\n    id\n    status\n    version\n  }\n}\n\nsubscription TaskChanges($filter: TaskFilter) {\n  taskStatusChanged(filter: $filter) {\n    id\n    name\n    status\n    version\n  }\n}": types.TaskStatusChangedDocument,
    "fragment TaskFields on Task {\n  id\n  name\n  queue\n  priority\n  status\n  isFinished\n  version\n  args\n  kwargs\n  returnValue\n  errors {\n    exceptionType\n    message\n    traceback\n    attempt\n    at\n    workerId\n  }\n  attempts\n  maxAttempts\n  workerIds\n  progress {\n    current\n    total\n    message\n    updatedAt\n  }\n  enqueuedAt\n  runAfter\n  startedAt\n  finishedAt\n  lastAttemptedAt\n  durationMs\n  cancelRequested\n  expiresAt\n  idempotencyKey\n}\n\nmutation EnqueueTask($input: EnqueueTaskInput!) {\n  enqueueTask(input: $input) {\n    task {\n      ...TaskFields\n    }\n  }\n}\n\nmutation CancelTask($id: ID!) {\n  cancelTask(id: $id) {\n    ...TaskFields\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...TaskFields\n  }\n}\n\nquery TaskResult($id: ID!) {\n  taskResult(id: $id) {\n    ...TaskFields\n  }\n}\n\nquery Node($id: ID!) {\n  node(id: $id) {\n    __typename\n    id\n    ... on Task {\n      name\n      status\n    }\n  }\n}\n\nquery QueueStats {\n  queueStats {\n    queue\n    counts {\n      status\n      count\n    }\n    pending\n    running\n    retrying\n    succeeded\n    failed\n    cancelled\n    total\n    oldestPendingAgeMs\n  }\n}": types.TaskFieldsFragmentDoc,
    "query Tasks($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter) {\n  tasks(\n    first: $first\n    after: $after\n    last: $last\n    before: $before\n    filter: $filter\n  ) {\n    edges {\n      cursor\n      node {\n        id\n        name\n        queue\n        status\n      }\n    }\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n  }\n}\n\nquery TaskCount($filter: TaskFilter) {\n  tasks(first: 1, filter: $filter) {\n    totalCount\n  }\n}": types.TasksDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription TaskStatusChanged($id: ID!) {\n  taskStatusChanged(id: $id) {\n    ...TaskFields\n  }\n}\n\nsubscription TaskVersion($id: ID!) {\n  taskStatusChanged(id: $id) {\n    id\n    status\n    version\n  }\n}\n\nsubscription TaskChanges($filter: TaskFilter) {\n  taskStatusChanged(filter: $filter) {\n    id\n    name\n    status\n    version\n  }\n}"): (typeof documents)["subscription TaskStatusChanged($id: ID!) {\n  taskStatusChanged(id: $id) {\n    ...TaskFields\n  }\n}\n\nsubscription TaskVersion($id: ID!) {\n  taskStatusChanged(id: $id) {\n    id\n    status\n    version\n  }\n}\n\nsubscription TaskChanges($filter: TaskFilter) {\n  taskStatusChanged(filter: $filter) {\n    id\n    name\n    status\n    version\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment TaskFields on Task {\n  id\n  name\n  queue\n  priority\n  status\n  isFinished\n  version\n  args\n  kwargs\n  returnValue\n  errors {\n    exceptionType\n    message\n    traceback\n    attempt\n    at\n    workerId\n  }\n  attempts\n  maxAttempts\n  workerIds\n  progress {\n    current\n    total\n    message\n    updatedAt\n  }\n  enqueuedAt\n  runAfter\n  startedAt\n  finishedAt\n  lastAttemptedAt\n  durationMs\n  cancelRequested\n  expiresAt\n  idempotencyKey\n}\n\nmutation EnqueueTask($input: EnqueueTaskInput!) {\n  enqueueTask(input: $input) {\n    task {\n      ...TaskFields\n    }\n  }\n}\n\nmutation CancelTask($id: ID!) {\n  cancelTask(id: $id) {\n    ...TaskFields\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...TaskFields\n  }\n}\n\nquery TaskResult($id: ID!) {\n  taskResult(id: $id) {\n    ...TaskFields\n  }\n}\n\nquery Node($id: ID!) {\n  node(id: $id) {\n    __typename\n    id\n    ... on Task {\n      name\n      status\n    }\n  }\n}\n\nquery QueueStats {\n  queueStats {\n    queue\n    counts {\n      status\n      count\n    }\n    pending\n    running\n    retrying\n    succeeded\n    failed\n    cancelled\n    total\n    oldestPendingAgeMs\n  }\n}"): (typeof documents)["fragment TaskFields on Task {\n  id\n  name\n  queue\n  priority\n  status\n  isFinished\n  version\n  args\n  kwargs\n  returnValue\n  errors {\n    exceptionType\n    message\n    traceback\n    attempt\n    at\n    workerId\n  }\n  attempts\n  maxAttempts\n  workerIds\n  progress {\n    current\n    total\n    message\n    updatedAt\n  }\n  enqueuedAt\n  runAfter\n  startedAt\n  finishedAt\n  lastAttemptedAt\n  durationMs\n  cancelRequested\n  expiresAt\n  idempotencyKey\n}\n\nmutation EnqueueTask($input: EnqueueTaskInput!) {\n  enqueueTask(input: $input) {\n    task {\n      ...TaskFields\n    }\n  }\n}\n\nmutation CancelTask($id: ID!) {\n  cancelTask(id: $id) {\n    ...TaskFields\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...TaskFields\n  }\n}\n\nquery TaskResult($id: ID!) {\n  taskResult(id: $id) {\n    ...TaskFields\n  }\n}\n\nquery Node($id: ID!) {\n  node(id: $id) {\n    __typename\n    id\n    ... on Task {\n      name\n      status\n    }\n  }\n}\n\nquery QueueStats {\n  queueStats {\n    queue\n    counts {\n      status\n      count\n    }\n    pending\n    running\n    retrying\n    succeeded\n    failed\n    cancelled\n    total\n    oldestPendingAgeMs\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Tasks($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter) {\n  tasks(\n    first: $first\n    after: $after\n    last: $last\n    before: $before\n    filter: $filter\n  ) {\n    edges {\n      cursor\n      node {\n        id\n        name\n        queue\n        status\n      }\n    }\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n  }\n}\n\nquery TaskCount($filter: TaskFilter) {\n  tasks(first: 1, filter: $filter) {\n    totalCount\n  }\n}"): (typeof documents)["query Tasks($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter) {\n  tasks(\n    first: $first\n    after: $after\n    last: $last\n    before: $before\n    filter: $filter\n  ) {\n    edges {\n      cursor\n      node {\n        id\n        name\n        queue\n        status\n      }\n    }\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n  }\n}\n\nquery TaskCount($filter: TaskFilter) {\n  tasks(first: 1, filter: $filter) {\n    totalCount\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;