import { isTerminal, TASK_EVENT_TYPES, TASK_STATUSES, TERMINAL_STATUSES, type TaskEventType, type TaskStatus } from '../states.js';

export { isTerminal, TASK_EVENT_TYPES, TASK_STATUSES, TERMINAL_STATUSES, type TaskEventType, type TaskStatus };

/** Waiting to be claimed: what the claim query and the claim index look at. */
export const WAITING_STATUSES: readonly TaskStatus[] = ['PENDING', 'RETRYING'];

export function isTaskStatus(value: unknown): value is TaskStatus {
  return typeof value === 'string' && (TASK_STATUSES as readonly string[]).includes(value);
}

export function isTaskEventType(value: unknown): value is TaskEventType {
  return typeof value === 'string' && (TASK_EVENT_TYPES as readonly string[]).includes(value);
}
