import { TASK_EVENT_TYPES, TASK_STATUSES, type TaskEventType, type TaskStatus } from '../states.js';

export { TASK_EVENT_TYPES, TASK_STATUSES, type TaskEventType, type TaskStatus };

export const TERMINAL_STATUSES: readonly TaskStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/** Waiting to be claimed: what the claim query and the claim index look at. */
export const WAITING_STATUSES: readonly TaskStatus[] = ['PENDING', 'RETRYING'];

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function isTaskStatus(value: unknown): value is TaskStatus {
  return typeof value === 'string' && (TASK_STATUSES as readonly string[]).includes(value);
}

export function isTaskEventType(value: unknown): value is TaskEventType {
  return typeof value === 'string' && (TASK_EVENT_TYPES as readonly string[]).includes(value);
}
