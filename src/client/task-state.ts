import { isTerminal, TASK_EVENT_TYPES, TERMINAL_STATUSES } from '../states.js';
import type { ClientTaskEventFragment, ClientTaskFragment, ClientTaskStateFragment, TaskEventType, TaskStatus, WaitReason } from './generated/graphql.js';

/**
 * A task as the server reports it: every field of the GraphQL `Task` but `events` (read with
 * `events()`); `schedule`, `workflow` and `dependsOn` as references (`{ id, key }`, `{ id, name }`,
 * `{ id, stepRef }[]`). Dates are ISO-8601 strings.
 */
export type Task = ClientTaskFragment;
/**
 * A task without its payload (`args`, `kwargs`, `returnValue`, `errors`, `progress`): what
 * `cancel`, `retry`, `runNow` answer with `{ payload: false }`, for a credential that may act on a
 * task but not read it (e.g. `tasks:cancel` alone, on a task another credential enqueued).
 */
export type TaskState = ClientTaskStateFragment;

/**
 * What a mutation's answer holds: the task with its payload (default), or with `payload: false` its
 * state alone (TaskState), for a credential without `tasks:read` acting on a task it did not
 * enqueue: with the payload asked, its answer is PayloadForbiddenError although the mutation was
 * carried out.
 */
export interface AnswerOptions {
  payload?: boolean | undefined;
}
export type { WaitReason };
/** One entry of a task's event log (the GraphQL `TaskEvent` without its `task`). */
export type TaskEvent = ClientTaskEventFragment;

export { TERMINAL_STATUSES };

export const isTerminalStatus = (status: TaskStatus): boolean => isTerminal(status);

/** A task in one of these states waits for a worker (what `waitReason` explains, with BLOCKED). */
export const isWaitingStatus = (status: TaskStatus): boolean => status === 'PENDING' || status === 'RETRYING';

/**
 * `waitReason` after a change to `status`, as far as the change tells: BLOCKED for BLOCKED, null
 * for a task that no longer waits (RUNNING, finished); kept while it waits on. A task that goes back
 * to waiting gets null here: why it waits is read from the row (`watch()` does, for live changes).
 */
function waitReasonAfter(task: Task, status: TaskStatus): WaitReason | null {
  if (status === 'BLOCKED') return 'BLOCKED';
  return isWaitingStatus(status) && isWaitingStatus(task.status) ? task.waitReason : null;
}

/**
 * The events after which a task can be finished (RESCUED: FAILED or CANCELLED when no attempt
 * is left), and RETRIED, the one after which a finished task is not. A stream filtered by type
 * still asks for these, so that it knows where the task's life ends: the server ends a filtered
 * stream at the terminal event without sending it, which a client cannot tell from a server
 * shutting down.
 */
export const ENDING_EVENT_TYPES: readonly TaskEventType[] = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'RESCUED', 'RETRIED'];

/** Every event type but OUTPUT: the ones that change a task's state (what `watch()` follows). */
export const STATE_EVENT_TYPES: readonly TaskEventType[] = TASK_EVENT_TYPES.filter((type) => type !== 'OUTPUT');

/** The events numberRuns reads: where runs start, and the output. */
export const RUN_EVENT_TYPES: readonly TaskEventType[] = ['STARTED', 'OUTPUT'];

/**
 * The OUTPUT events among `events` (a task's RUN_EVENT_TYPES, oldest first), each with the run that
 * wrote it: `runs` (the STARTED events before the first one read) plus one for every STARTED since.
 * A run that gave its attempt back (RELEASED, SNOOZED) keeps the attempt number into the next, so
 * only these events tell where a run's output starts over.
 */
export async function* numberRuns(events: AsyncIterable<TaskEvent>, runs = 0): AsyncGenerator<TaskEvent & { run: number }, void, undefined> {
  for await (const event of events) {
    if (event.type === 'STARTED') runs++;
    else yield { ...event, run: runs };
  }
}

/** The task as it was when enqueued (version 0, before its first event): what a replay from the start builds on. */
export function initialState(task: Task): Task {
  return {
    ...task,
    status: 'PENDING',
    isFinished: false,
    version: 0,
    returnValue: null,
    errors: [],
    attempts: 0,
    workerIds: [],
    progress: null,
    startedAt: null,
    finishedAt: null,
    lastAttemptedAt: null,
    durationMs: null,
    cancelRequested: false,
    expiresAt: null,
    outputBytes: 0,
    waitReason: null,
  };
}

function durationMs(startedAt: string | null, finishedAt: string | null): number | null {
  return startedAt && finishedAt ? Date.parse(finishedAt) - Date.parse(startedAt) : null;
}

/**
 * A run that gave its attempt back: a worker's RELEASED (unstarted at a shutdown, or the rescuer's
 * for a lost worker's task claimed ahead) and a SNOOZED (the handler asked to run later). The
 * event names that attempt; the task has one fewer, without its worker, and without the first
 * attempt's stamps when none is left (drizzle/0037 and the release's statement do the same).
 */
function giveAttemptBack(task: Task, next: Task, event: TaskEvent): void {
  next.attempts = Math.max(0, event.attempt - 1);
  next.workerIds = task.workerIds.slice(0, -1);
  if (next.attempts === 0) {
    next.startedAt = null;
    next.lastAttemptedAt = null;
  }
}

/**
 * The task's state right after `event`, from its state before it. Events carry the status,
 * attempt, worker, progress and error of a change, so these fields follow the server's state
 * machine (src/queue/sql/*); `waitReason` follows the status (waitReasonAfter). What events do not
 * carry (the return value, `expiresAt`, `runAfter` but a PROMOTED one's, `maxAttempts` after retryTask,
 * `outputBytes`, why a task waits again) stays as it was: `watch()` reads the row for those.
 */
export function applyEvent(task: Task, event: TaskEvent): Task {
  const next: Task = {
    ...task,
    version: event.version,
    status: event.status,
    isFinished: isTerminalStatus(event.status),
    attempts: event.attempt,
    waitReason: waitReasonAfter(task, event.status),
  };
  const addError = (): void => {
    if (event.error) next.errors = [...task.errors, event.error];
  };
  const finish = (): void => {
    next.finishedAt = event.at;
    next.durationMs = durationMs(next.startedAt, event.at);
  };
  switch (event.type) {
    case 'STARTED':
      next.workerIds = event.workerId === null ? task.workerIds : [...task.workerIds, event.workerId];
      next.startedAt = task.startedAt ?? event.at;
      next.lastAttemptedAt = event.at;
      break;
    case 'PROGRESS':
      next.progress = event.progress;
      break;
    case 'RETRY_SCHEDULED':
      addError();
      break;
    case 'RESCUED':
    case 'FAILED':
      addError();
      if (next.isFinished) finish();
      break;
    case 'CANCEL_REQUESTED':
      next.cancelRequested = true;
      break;
    case 'CANCELLED':
      next.cancelRequested = true;
      addError();
      finish();
      break;
    case 'SUCCEEDED':
      finish();
      break;
    case 'RELEASED':
      // A workflow step's parents all ended (BLOCKED → PENDING): its attempts and workers stay, as the
      // event's attempt (the task's count) says.
      if (task.status === 'BLOCKED') break;
      giveAttemptBack(task, next, event);
      break;
    case 'SNOOZED':
      giveAttemptBack(task, next, event);
      break;
    case 'PROMOTED':
      // runTaskNow: due at the event's time. Whatever else holds it (a paused queue, limits) is read from the row.
      next.runAfter = event.at;
      if (task.waitReason === 'SCHEDULED') next.waitReason = null;
      break;
    case 'RETRIED':
      next.cancelRequested = false;
      next.finishedAt = null;
      next.durationMs = null;
      next.returnValue = null;
      next.progress = null;
      next.expiresAt = null;
      break;
    default:
      break;
  }
  return next;
}
