/**
 * The vocabulary below both the storage (src/db) and the core (src/queue): task states and
 * event types. The database enums, the core's checks and the GraphQL enums are all built
 * from these lists, so each has one source of truth.
 */

/** Task states, in the order of the state machine (DESIGN.md). */
export const TASK_STATUSES = ['PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];

/**
 * What one entry of a task's event log records (DESIGN.md Part 2 §A). Every visible change of
 * a task writes exactly one event, numbered by the task's `version`.
 */
export const TASK_EVENT_TYPES = [
  'ENQUEUED',
  'STARTED',
  'PROGRESS',
  'OUTPUT',
  'RETRY_SCHEDULED',
  'SUCCEEDED',
  'FAILED',
  'CANCEL_REQUESTED',
  'CANCELLED',
  'RESCUED',
  'RELEASED',
  'RETRIED',
] as const;

export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];
