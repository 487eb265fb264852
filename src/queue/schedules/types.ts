import type { JsonObject, JsonValue } from '../json.js';
import type { TaskPage } from '../list.js';
import type { Backoff, Task } from '../task.js';

/** What an occurrence does while the schedule's previous task is unfinished (PENDING, RUNNING or RETRYING). */
export const OVERLAP_POLICIES = ['ALLOW', 'SKIP'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/**
 * What happens to occurrences that passed while no scheduler ran (downtime; a pause is not downtime):
 * SKIP none of them, RUN_ONCE one task now for the latest, RUN_ALL one per occurrence, oldest
 * first, at most SCHEDULE_CATCH_UP_MAX.
 */
export const MISSED_RUN_POLICIES = ['SKIP', 'RUN_ONCE', 'RUN_ALL'] as const;
export type MissedRunPolicy = (typeof MISSED_RUN_POLICIES)[number];

/** The task each occurrence enqueues: EnqueueInput without what an occurrence decides itself (runAfter, idempotencyKey, tenant). */
export interface ScheduleTaskInput {
  name: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  queue?: string;
  /** -100..100, higher runs first. */
  priority?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  resultTtlMs?: number;
  backoff?: Partial<Backoff>;
  /**
   * Every occurrence's concurrencyKey (1..255 characters), e.g. the account a schedule syncs: the
   * queue's perKeyConcurrency then holds for its tasks as for any task of that key (docs/flow-control.md).
   */
  concurrencyKey?: string;
}

export interface UpsertScheduleInput {
  /** Unique per tenant: upserting an existing key updates that schedule. 1..200 characters. */
  key: string;
  /** 5 fields (minute first), or 6 with seconds first (`*\/5 * * * * *` = every 5 s). */
  cron: string;
  /** IANA time zone of the cron's wall clock (default `UTC`). */
  timezone?: string;
  task: ScheduleTaskInput;
  /** Default ALLOW on create; unchanged on update when unset. */
  overlap?: OverlapPolicy;
  /** Default RUN_ONCE on create; unchanged on update when unset. */
  missed?: MissedRunPolicy;
  /** Default false on create; an update leaves a schedule's pause alone unless this is given. */
  paused?: boolean;
  /** Only for a queue that sees every tenant; default the queue's `writeTenant`. */
  tenant?: string;
}

/** A stored schedule. */
export interface Schedule {
  /** uuid v7. */
  id: string;
  tenant: string;
  key: string;
  cron: string;
  timezone: string;
  taskName: string;
  args: JsonValue[];
  kwargs: JsonObject;
  queue: string;
  priority: number;
  /** Resolved at upsert: the input's, else the task definition's, else 1 (likewise queue, priority, resultTtlMs, backoff). */
  maxAttempts: number;
  timeoutMs: number | null;
  resultTtlMs: number | null;
  backoff: Backoff | null;
  /** Carried to every task it enqueues; null: none. */
  concurrencyKey: string | null;
  overlap: OverlapPolicy;
  missed: MissedRunPolicy;
  paused: boolean;
  /** The next occurrence to fire; null when the cron has no future occurrence (or while paused, see resume). */
  nextRunAt: Date | null;
  /** When the schedule last enqueued a task (the database clock at that moment). */
  lastRunAt: Date | null;
  lastTaskId: string | null;
  /** Bumped by every change of the row (an occurrence fired, an upsert, pause, resume). */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface ListSchedulesParams {
  /** Page size, 0..100 (default 20; 0 reads no schedule, only whether there are some and the count). */
  first?: number;
  /** A cursor from a previous page's `endCursor`. */
  after?: string;
}

/** A page of schedules ordered by key (then tenant). */
export interface SchedulePage {
  schedules: Schedule[];
  /** Cursor of each schedule, in the same order. */
  cursors: string[];
  hasNextPage: boolean;
  totalCount(): Promise<number>;
}

export interface ScheduleRunsParams {
  first?: number;
  after?: string;
}

/**
 * Schedules of one queue scope (Queue.schedules). Key-addressed methods act in the scope's
 * `writeTenant`; another tenant's schedule is indistinguishable from none (NotFoundError /
 * undefined / false). Bad input throws BadUserInputError (or UnknownTaskError /
 * InvalidArgumentsError for the task) naming the field.
 */
export interface Schedules {
  /** Creates or updates by key; recomputes `nextRunAt` when cron or timezone change, or on create. */
  upsert(input: UpsertScheduleInput): Promise<Schedule>;
  get(key: string): Promise<Schedule | undefined>;
  /** The scope's schedules (every tenant's for the unscoped queue), ordered by key. */
  list(params?: ListSchedulesParams): Promise<SchedulePage>;
  /** @throws NotFoundError */
  pause(key: string): Promise<Schedule>;
  /** Sets `nextRunAt` to the next future occurrence: the paused interval is never replayed. @throws NotFoundError */
  resume(key: string): Promise<Schedule>;
  /** False when there was none. The schedule's tasks stay (their `scheduleId` then names no schedule). */
  delete(key: string): Promise<boolean>;
  /** Enqueues one task now (scheduledFor null: not an occurrence), paused or not, whatever `overlap` says. @throws NotFoundError */
  trigger(key: string): Promise<Task>;
  /** The next `count` occurrences (default 5, at most 100) after the database's now. @throws NotFoundError for an unknown key */
  upcoming(schedule: string | Schedule, count?: number): Promise<Date[]>;
  /**
   * The schedule's tasks, newest first (keyset like Queue.listTasks): by key in the scope's
   * `writeTenant`, or of a Schedule already read (an unscoped list's, whatever its tenant).
   * @throws NotFoundError for an unknown key
   */
  runs(schedule: string | Schedule, params?: ScheduleRunsParams): Promise<TaskPage>;
}
