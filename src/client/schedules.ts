import {
  DeleteScheduleDocument,
  GetScheduleDocument,
  ListSchedulesDocument,
  PauseScheduleDocument,
  ResumeScheduleDocument,
  TriggerScheduleDocument,
  UpsertScheduleDocument,
  type ClientScheduleFragment,
  type GetScheduleQuery,
  type MissedRunPolicy,
  type OverlapPolicy,
  type UpsertScheduleInput,
} from './generated/graphql.js';
import type { HttpTransport } from './http.js';
import { checkInteger, MAX_PAGE_SIZE } from './options.js';
import type { Task } from './task-state.js';

/** A schedule as the client reads it (docs/schedules.md); `lastTask` is a summary of the task it enqueued last. */
export type Schedule = ClientScheduleFragment;
/** A schedule with its next occurrences (ISO-8601) and its latest tasks, newest first. */
export type ScheduleDetail = NonNullable<GetScheduleQuery['schedule']>;
export type { MissedRunPolicy, OverlapPolicy, UpsertScheduleInput };

/** One page of `listSchedules()`. */
export interface SchedulePage {
  schedules: Schedule[];
  /** Pass as `after` to continue from here later. */
  endCursor: string | null;
  hasNextPage: boolean;
  /** Schedules over all pages; on the first page only, when `count: true`. */
  totalCount?: number;
}

export interface ListSchedulesOptions {
  /** Schedules per request, 1..100 (default 20). */
  pageSize?: number;
  /** Stop after this many schedules in all (default: follow every page). */
  limit?: number;
  /** Start after this cursor (a page's `endCursor`). */
  after?: string;
  /** Ask for `totalCount` on the first page. */
  count?: boolean;
  signal?: AbortSignal;
}

/** Which tenant's schedule a key names. */
export interface ScheduleKeyOptions {
  /**
   * The schedule's tenant (default: the caller's own). A caller that sees every tenant (admin, or
   * a server with auth off) reaches any tenant's; for any other, another tenant's is unknown.
   */
  tenant?: string;
}

export interface GetScheduleOptions extends ScheduleKeyOptions {
  /** How many next occurrences to list, 1..100 (default 5). */
  upcoming?: number;
  /** How many of its latest tasks to list, 1..100 (default 10). */
  runs?: number;
}

/**
 * The schedule methods of TaskwireClient (docs/schedules.md). Keys are per tenant: a key names the
 * caller's own tenant's schedule unless `tenant` (an admin's reach) names another's.
 */
export interface ScheduleClient {
  /**
   * Creates or updates the schedule `input.key`. A bad cron or time zone: RequestError `BAD_USER_INPUT`
   * whose `field` is `input.cron` / `input.timezone`; an unknown task: `UNKNOWN_TASK`. Without `paused`,
   * an update keeps the schedule's pause. `input.tenant`: see ScheduleKeyOptions.
   */
  upsertSchedule(input: UpsertScheduleInput): Promise<Schedule>;
  /** The schedule with its next occurrences and latest tasks, or null when there is no such key. */
  schedule(key: string, options?: GetScheduleOptions): Promise<ScheduleDetail | null>;
  /** Pages of schedules, ordered by key, following the cursors. */
  listSchedules(options?: ListSchedulesOptions): AsyncGenerator<SchedulePage, void, undefined>;
  /** Stops its occurrences. Unknown key: RequestError `NOT_FOUND`. */
  pauseSchedule(key: string, options?: ScheduleKeyOptions): Promise<Schedule>;
  /** Fires again from the next future occurrence (the paused interval is not replayed). Unknown key: `NOT_FOUND`. */
  resumeSchedule(key: string, options?: ScheduleKeyOptions): Promise<Schedule>;
  /** true when it existed; its tasks stay. */
  deleteSchedule(key: string, options?: ScheduleKeyOptions): Promise<boolean>;
  /** Enqueues its task now (scheduledFor null), paused or not. Unknown key: `NOT_FOUND`. */
  triggerSchedule(key: string, options?: ScheduleKeyOptions): Promise<Task>;
}

export interface ScheduleClientParts {
  http: HttpTransport;
  /** Aborted when the client closes. */
  lifetime: AbortSignal;
}

/** The schedule methods, over the client's HTTP transport. */
export function createScheduleMethods({ http, lifetime }: ScheduleClientParts): ScheduleClient {
  const withLifetime = (signal?: AbortSignal): AbortSignal => AbortSignal.any(signal ? [signal, lifetime] : [lifetime]);
  return {
    async upsertSchedule(input) {
      return (await http.request(UpsertScheduleDocument, { input }, lifetime)).upsertSchedule;
    },
    async schedule(key, options = {}) {
      const variables = { key, tenant: options.tenant ?? null, upcoming: options.upcoming ?? 5, runs: options.runs ?? 10 };
      return (await http.request(GetScheduleDocument, variables, lifetime)).schedule;
    },
    async *listSchedules(options = {}) {
      checkInteger('pageSize', options.pageSize, 1, MAX_PAGE_SIZE);
      checkInteger('limit', options.limit, 0, Number.POSITIVE_INFINITY);
      const pageSize = options.pageSize ?? 20;
      const signal = withLifetime(options.signal);
      let remaining = options.limit ?? Number.POSITIVE_INFINITY;
      let after = options.after ?? null;
      let withCount = options.count ?? false;
      while (remaining > 0) {
        const first = Math.min(pageSize, remaining);
        const { schedules } = await http.request(ListSchedulesDocument, { first, after, withCount }, signal);
        const page: SchedulePage = {
          schedules: schedules.edges.map((edge) => edge.node),
          endCursor: schedules.pageInfo.endCursor,
          hasNextPage: schedules.pageInfo.hasNextPage,
          ...(schedules.totalCount === undefined ? {} : { totalCount: schedules.totalCount }),
        };
        remaining -= page.schedules.length;
        yield page;
        if (!page.hasNextPage || page.endCursor === null) return;
        after = page.endCursor;
        withCount = false;
      }
    },
    async pauseSchedule(key, options = {}) {
      return (await http.request(PauseScheduleDocument, { key, tenant: options.tenant ?? null }, lifetime)).pauseSchedule;
    },
    async resumeSchedule(key, options = {}) {
      return (await http.request(ResumeScheduleDocument, { key, tenant: options.tenant ?? null }, lifetime)).resumeSchedule;
    },
    async deleteSchedule(key, options = {}) {
      return (await http.request(DeleteScheduleDocument, { key, tenant: options.tenant ?? null }, lifetime)).deleteSchedule;
    },
    async triggerSchedule(key, options = {}) {
      return (await http.request(TriggerScheduleDocument, { key, tenant: options.tenant ?? null }, lifetime)).triggerSchedule;
    },
  };
}
