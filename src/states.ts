/**
 * The vocabulary below both the storage (src/db) and the core (src/queue): task states and
 * event types. The database enums, the core's checks, the GraphQL enums and the client's rules
 * are all built from these lists, so each has one source of truth. No imports: the client
 * bundles this file.
 */

/** Task states, in the order of the state machine (DESIGN.md). */
export const TASK_STATUSES = ['BLOCKED', 'PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A task in one of these states is finished (its subscriptions end). */
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

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
  /** The handler asked to run again later (ctx.retryAfter / ctx.snooze): back to waiting, the attempt not used. */
  'SNOOZED',
  /** runTaskNow made a task waiting for its runAfter (delayed, snoozed, backing off) due at once. */
  'PROMOTED',
] as const;

export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

/** What a bulk action does to each of its tasks (DESIGN.md Part 2 §E): cancelTask's or retryTask's change. */
export const BULK_ACTION_KINDS = ['CANCEL', 'RETRY'] as const;

export type BulkActionKind = (typeof BULK_ACTION_KINDS)[number];

/** A bulk action runs until each of its tasks is processed (DONE), or stops on an error it cannot pass (FAILED). */
export const BULK_ACTION_STATUSES = ['RUNNING', 'DONE', 'FAILED'] as const;

export type BulkActionStatus = (typeof BULK_ACTION_STATUSES)[number];

/** A workflow (DESIGN.md Part 2 §C) is RUNNING until nothing is left to run; CANCELLED only by cancelWorkflow. */
export const WORKFLOW_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

export type WorkflowStatus = (typeof WORKFLOW_STATUSES)[number];

/** What becomes of a workflow step when a parent FAILED or was CANCELLED (default CANCEL). */
export const DEPENDENCY_FAILURE_POLICIES = ['CANCEL', 'RUN_ANYWAY'] as const;

export type DependencyFailurePolicy = (typeof DEPENDENCY_FAILURE_POLICIES)[number];
