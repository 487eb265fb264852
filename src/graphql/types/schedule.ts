import { ForbiddenError, BadUserInputError, NotFoundError } from '../../errors.js';
import { isTenantName, MAX_TENANT, MISSED_RUN_POLICIES, OVERLAP_POLICIES, type Queue, type Schedule, type SchedulePage, type Schedules } from '../../queue/index.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { isReadToken } from '../guard.js';
import { PageInfoRef, TaskConnectionRef, type PageInfo } from './connection.js';
import { BackoffRef, NodeRef, TaskRef } from './task.js';

/** Built from the core's lists: one source of truth. */
export const MissedRunPolicyEnum = builder.enumType('MissedRunPolicy', {
  description:
    'Occurrences that passed while no scheduler ran (downtime; a pause is not downtime): SKIP none, RUN_ONCE one task now, ' +
    'RUN_ALL one per occurrence, oldest first, at most SCHEDULE_CATCH_UP_MAX.',
  values: MISSED_RUN_POLICIES,
});

export const OverlapPolicyEnum = builder.enumType('OverlapPolicy', {
  description: "An occurrence while the schedule's previous task is unfinished (PENDING, RUNNING or RETRYING): ALLOW another task, or SKIP it.",
  values: OVERLAP_POLICIES,
});

/** Most occurrences `upcoming` lists at once, and how many without `count`. */
export const MAX_UPCOMING = 100;
export const DEFAULT_UPCOMING = 5;

/**
 * The schedule store of the operation. A read token reads its own tasks only, never a schedule
 * (its queue view refuses the rest): said as FORBIDDEN rather than a crash.
 */
export function schedulesOf(ctx: GraphQLContext): Queue['schedules'] {
  if (isReadToken(ctx.principal)) throw new ForbiddenError('A read token reads only its own tasks; schedules need tasks:read');
  return ctx.queue.schedules;
}

/** What a key-addressed operation does with a schedule (the root fields that take `tenant`). */
export type KeyedSchedules = Pick<Schedules, 'get' | 'upsert' | 'pause' | 'resume' | 'delete' | 'trigger'>;

/**
 * Another tenant's schedules as a caller limited to its own sees them: none. Every answer is the
 * one an unknown key gets (null, false, NOT_FOUND naming `key`), so naming a tenant tells such a
 * caller nothing about it. upsert, which would create rather than find, answers NOT_FOUND too,
 * naming `input.tenant`: the tenant is as unknown to it as the schedules in it.
 */
function foreignSchedules(tenant: string): KeyedSchedules {
  const unknown = (key: string): never => {
    throw new NotFoundError('Schedule', key, { field: 'key' });
  };
  return {
    get: async () => undefined,
    upsert: async () => {
      throw new NotFoundError('Tenant', tenant, { field: 'tenant' });
    },
    pause: async (key) => unknown(key),
    resume: async (key) => unknown(key),
    delete: async () => false,
    trigger: async (key) => unknown(key),
  };
}

/**
 * The schedules a key-addressed operation acts on: `tenant`'s (a key is unique per tenant only),
 * default the caller's own (its queue's writeTenant), as before the argument existed. A caller that
 * sees every tenant (admin, or anyone while auth is off) may name any; for one limited to its own,
 * another tenant's schedules are unknown keys (foreignSchedules), never FORBIDDEN.
 * @throws BadUserInputError naming `field` for a tenant no tenant could be called
 */
export function schedulesIn(ctx: GraphQLContext, tenant: string | null | undefined, field = 'tenant'): KeyedSchedules {
  const own = schedulesOf(ctx);
  const scope = ctx.queue.scope;
  if (tenant == null || tenant === scope.writeTenant) return own;
  if (!isTenantName(tenant)) {
    throw new BadUserInputError(`${field} must be a non-empty string of at most ${MAX_TENANT} characters, without a NUL character or a lone surrogate`, { field });
  }
  if (scope.readTenant !== null) return foreignSchedules(tenant);
  // Sees every tenant: the same queue narrowed to that one (its enqueues, a trigger's task, carry it).
  return ctx.queue.scoped({ readTenant: tenant, writeTenant: tenant, createdBy: scope.createdBy }).schedules;
}

// One read per schedule id per operation: a page of 100 tasks of one schedule reads it once.
const scheduleReads = new WeakMap<GraphQLContext, Map<string, Promise<Schedule | undefined>>>();

/** The schedule `id` as the operation's tenant sees it (another tenant's: undefined), read once per operation. */
function loadSchedule(ctx: GraphQLContext, id: string): Promise<Schedule | undefined> {
  let reads = scheduleReads.get(ctx);
  if (!reads) scheduleReads.set(ctx, (reads = new Map()));
  let read = reads.get(id);
  if (!read) {
    read = schedulesOf(ctx).getById(id);
    reads.set(id, read);
  }
  return read;
}

export const ScheduleRef = builder.objectRef<Schedule>('Schedule').implement({
  description: 'A cron schedule: one task per occurrence, whatever the number of scheduler processes.',
  interfaces: [NodeRef],
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'cron' in value && 'missed' in value,
  fields: (t) => ({
    key: t.exposeString('key', { description: "Unique per tenant; what every operation on a schedule takes (with `tenant` for another tenant's)." }),
    cron: t.exposeString('cron', { description: '5 fields (minute first), or 6 with seconds first.' }),
    timezone: t.exposeString('timezone', { description: "IANA time zone of the cron's wall clock, e.g. Europe/Paris." }),
    taskName: t.exposeString('taskName'),
    args: t.expose('args', { type: 'JSON' }),
    kwargs: t.expose('kwargs', { type: 'JSON' }),
    queue: t.exposeString('queue'),
    priority: t.exposeInt('priority'),
    maxAttempts: t.exposeInt('maxAttempts', { description: "Attempts of each task (fixed at upsert: the input's, else the definition's, else 1)." }),
    timeoutMs: t.exposeInt('timeoutMs', { nullable: true, description: "Each task's time limit per attempt, in ms; null: the task definition's, if any." }),
    resultTtlMs: t.exposeFloat('resultTtlMs', { nullable: true, description: "How long each finished task is kept, in ms; null: the server's RESULT_TTL_MS." }),
    backoff: t.field({ type: BackoffRef, description: "The spacing of each task's retries (fixed at upsert).", resolve: (s) => s.backoff ?? {} }),
    concurrencyKey: t.exposeString('concurrencyKey', {
      nullable: true,
      description: "The concurrencyKey of every task it enqueues (the queue's perKeyConcurrency holds for them); null: none.",
    }),
    overlap: t.expose('overlap', { type: OverlapPolicyEnum }),
    missed: t.expose('missed', { type: MissedRunPolicyEnum }),
    paused: t.exposeBoolean('paused', { description: 'A paused schedule fires nothing; resuming never replays the paused interval.' }),
    nextRunAt: t.expose('nextRunAt', { type: 'DateTime', nullable: true, description: 'The next occurrence to fire; null while paused or when the cron has none left.' }),
    lastRunAt: t.expose('lastRunAt', { type: 'DateTime', nullable: true, description: 'When it last enqueued a task (the database clock).' }),
    lastTask: t.field({
      type: TaskRef,
      nullable: true,
      description: 'The task it enqueued last; null before the first, or once that task has expired (result retention).',
      resolve: (s, _args, ctx) => (s.lastTaskId ? ctx.events.loadTask(s.lastTaskId).then((task) => task ?? null) : null),
    }),
    upcoming: t.field({
      type: ['DateTime'],
      description:
        `The next \`count\` occurrences (1..${MAX_UPCOMING}, default ${DEFAULT_UPCOMING}) after now, also while paused: ` +
        "UTC instants, computed on its time zone's wall clock (02:30 Europe/Paris in winter reads 01:30Z).",
      args: { count: t.arg.int() },
      resolve: (s, { count }, ctx) => {
        const n = count ?? DEFAULT_UPCOMING;
        if (!Number.isInteger(n) || n < 1 || n > MAX_UPCOMING) {
          throw new BadUserInputError(`count must be 1..${MAX_UPCOMING}, got ${n}`, { field: 'count' });
        }
        return schedulesOf(ctx).upcoming(s, n);
      },
    }),
    runs: t.field({
      type: TaskConnectionRef,
      description: 'The tasks it enqueued (occurrences and triggers), newest first; keyset cursors as in `tasks`.',
      args: { first: t.arg.int(), after: t.arg.string() },
      // The schedule itself, not its key: an admin's list holds other tenants' schedules, whose keys its own tenant does not know.
      resolve: (s, args, ctx) => schedulesOf(ctx).runs(s, { first: args.first ?? undefined, after: args.after ?? undefined }),
    }),
    tenant: t.exposeString('tenant', {
      description: "The tenant it belongs to: with its key, what names it (an admin lists every tenant's and names one with the operations' `tenant`).",
    }),
    version: t.exposeInt('version', { description: 'Goes up by one on every change (an occurrence fired, an upsert, a pause or resume).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

/** A page of schedules and the cursor of each. */
interface ScheduleConnection {
  page: SchedulePage;
  after: string | undefined;
}

interface ScheduleEdge {
  cursor: string;
  node: Schedule;
}

const ScheduleEdgeRef = builder.objectRef<ScheduleEdge>('ScheduleEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: ScheduleRef, resolve: (edge) => edge.node }),
  }),
});

function schedulePageInfo({ page, after }: ScheduleConnection): PageInfo {
  return {
    hasNextPage: page.hasNextPage,
    // Forward paging only: there is something before a page that starts after a cursor.
    hasPreviousPage: after !== undefined,
    startCursor: page.cursors[0] ?? null,
    endCursor: page.cursors.at(-1) ?? null,
  };
}

export const ScheduleConnectionRef = builder.objectRef<ScheduleConnection>('ScheduleConnection').implement({
  fields: (t) => ({
    edges: t.field({
      type: [ScheduleEdgeRef],
      resolve: ({ page }) => page.schedules.map((node, i) => ({ node, cursor: page.cursors[i] as string })),
    }),
    pageInfo: t.field({ type: PageInfoRef, resolve: schedulePageInfo }),
    totalCount: t.int({ description: 'Schedules in all pages together. Counted only when selected.', resolve: ({ page }) => page.totalCount() }),
  }),
});

builder.objectFields(TaskRef, (t) => ({
  scheduledFor: t.field({
    type: 'DateTime',
    nullable: true,
    description: 'The occurrence it was enqueued for, when a schedule enqueued it (null for triggerSchedule and for other tasks).',
    resolve: (task) => task.scheduledFor,
  }),
  schedule: t.field({
    type: ScheduleRef,
    nullable: true,
    description: 'The schedule that enqueued it; null for other tasks and once the schedule is deleted. Not for read tokens (FORBIDDEN).',
    resolve: async (task, _args, ctx) => {
      const id = task.scheduleId;
      return id ? ((await loadSchedule(ctx, id)) ?? null) : null;
    },
  }),
}));
