import { withEnqueueBudget } from '../../auth/rate-limit.js';
import { BadUserInputError } from '../../errors.js';
import type { ScheduleTaskInput, UpsertScheduleInput } from '../../queue/index.js';
import { builder } from '../builder.js';
import { withFieldPrefix } from '../errors.js';
import { assertMayEnqueue } from '../schedule-guard.js';
import { EnqueueTaskInput, toBackoff } from './mutations.js';
import { MissedRunPolicyEnum, OverlapPolicyEnum, ScheduleConnectionRef, ScheduleRef, schedulesIn, schedulesOf } from './schedule.js';
import { TaskRef } from './task.js';

/**
 * What `tenant` means on every key-addressed schedule field (schedulesIn). Said in the fields'
 * descriptions, not the argument's: a described argument prints the field over several SDL lines,
 * and the schema test holds DESIGN's contract lines as single lines.
 */
const TENANT_ARG =
  "`tenant`: whose schedule (default the caller's own); another tenant's is reached by a caller that sees every tenant " +
  '(admin, or auth off) and is unknown to any other (null, false or NOT_FOUND, never FORBIDDEN).';

const UpsertScheduleInputRef = builder.inputType('UpsertScheduleInput', {
  description: 'Creates the schedule, or updates the one with this key. Unset policies keep their values on update (defaults on create).',
  fields: (t) => ({
    key: t.string({ required: true, description: 'Unique per tenant, 1..200 characters.' }),
    cron: t.string({ required: true, description: '5 fields (minute first), or 6 with seconds first (`*/5 * * * * *` = every 5 s).' }),
    timezone: t.string({ description: 'IANA time zone of the wall clock (default UTC).' }),
    task: t.field({
      type: EnqueueTaskInput,
      required: true,
      description:
        "The task each occurrence enqueues; its concurrencyKey goes to every occurrence (the queue's perKeyConcurrency holds for them). " +
        "runAfter and idempotencyKey are each occurrence's own: giving them is BAD_USER_INPUT.",
    }),
    overlap: t.field({ type: OverlapPolicyEnum, description: 'Default ALLOW.' }),
    missed: t.field({ type: MissedRunPolicyEnum, description: 'Default RUN_ONCE.' }),
    paused: t.boolean({ description: 'Default false on create; an update leaves the pause as it is unless given.' }),
    tenant: t.string({
      description:
        "Whose schedule (default the caller's own). Another tenant's: only for a caller that sees every tenant (admin, or auth off); " +
        'any other gets NOT_FOUND naming input.tenant, never FORBIDDEN.',
    }),
  }),
});

type TaskArg = typeof EnqueueTaskInput.$inferInput;
type UpsertArg = typeof UpsertScheduleInputRef.$inferInput;

/** EnqueueTaskInput fields an occurrence decides itself: one time and one key would hold for a single occurrence only. */
const NOT_FOR_SCHEDULES = ['runAfter', 'idempotencyKey'] as const;

/** The GraphQL input as the core's (GraphQL's nulls become "not given"); fields named as in the input (the caller prefixes `input.`). */
function toUpsertInput(input: UpsertArg): UpsertScheduleInput {
  const task = input.task as TaskArg & Record<string, unknown>;
  for (const field of NOT_FOR_SCHEDULES) {
    if (task[field] != null) {
      throw new BadUserInputError(`A schedule's task takes no ${field}: each occurrence sets its own`, { field: `task.${field}` });
    }
  }
  const scheduleTask: ScheduleTaskInput = {
    name: task.name,
    ...(task.args != null ? { args: task.args as unknown[] } : {}),
    ...(task.kwargs != null ? { kwargs: task.kwargs as Record<string, unknown> } : {}),
    ...(task.queue != null ? { queue: task.queue } : {}),
    ...(task.priority != null ? { priority: task.priority } : {}),
    ...(task.maxAttempts != null ? { maxAttempts: task.maxAttempts } : {}),
    ...(task.concurrencyKey != null ? { concurrencyKey: task.concurrencyKey } : {}),
    ...(task.timeoutMs != null ? { timeoutMs: task.timeoutMs } : {}),
    ...(task.resultTtlMs != null ? { resultTtlMs: task.resultTtlMs } : {}),
    ...(task.backoff != null ? { backoff: toBackoff(task.backoff) } : {}),
  };
  return {
    key: input.key,
    cron: input.cron,
    task: scheduleTask,
    ...(input.timezone != null ? { timezone: input.timezone } : {}),
    ...(input.overlap != null ? { overlap: input.overlap } : {}),
    ...(input.missed != null ? { missed: input.missed } : {}),
    ...(input.paused != null ? { paused: input.paused } : {}),
  };
}

builder.queryFields((t) => ({
  schedules: t.field({
    type: ScheduleConnectionRef,
    description: 'Schedules, ordered by key (cursor paging forward; first: 0..100, default 20; 0 gives only totalCount and pageInfo).',
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const after = args.after ?? undefined;
      const page = await schedulesOf(ctx).list({ first: args.first ?? undefined, after });
      return { page, after };
    },
  }),
  schedule: t.field({
    type: ScheduleRef,
    nullable: true,
    description: `A schedule by key; null when there is none. ${TENANT_ARG}`,
    args: { key: t.arg.string({ required: true }), tenant: t.arg.string() },
    resolve: async (_root, { key, tenant }, ctx) => (await schedulesIn(ctx, tenant).get(key)) ?? null,
  }),
}));

builder.mutationFields((t) => ({
  upsertSchedule: t.field({
    type: ScheduleRef,
    description:
      "Creates or updates a schedule by key, in input.tenant (default the caller's own). A bad cron or time zone is BAD_USER_INPUT naming input.cron / input.timezone; an unknown task " +
      'UNKNOWN_TASK; nothing is stored on error. Needs schedules:write, and tasks:enqueue (or a glob) matching input.task.name.',
    args: { input: t.arg({ type: UpsertScheduleInputRef, required: true }) },
    resolve: (_root, { input }, ctx) => withFieldPrefix('input.', async () => schedulesIn(ctx, input.tenant).upsert(toUpsertInput(input))),
  }),
  pauseSchedule: t.field({
    type: ScheduleRef,
    description: `Stops its occurrences until resumeSchedule (pausing twice is fine). NOT_FOUND for an unknown key. ${TENANT_ARG}`,
    args: { key: t.arg.string({ required: true }), tenant: t.arg.string() },
    resolve: (_root, { key, tenant }, ctx) => schedulesIn(ctx, tenant).pause(key),
  }),
  resumeSchedule: t.field({
    type: ScheduleRef,
    description: `Fires again from the next future occurrence: the paused interval is never replayed. NOT_FOUND for an unknown key. ${TENANT_ARG}`,
    args: { key: t.arg.string({ required: true }), tenant: t.arg.string() },
    resolve: (_root, { key, tenant }, ctx) => schedulesIn(ctx, tenant).resume(key),
  }),
  deleteSchedule: t.field({
    type: 'Boolean',
    description: `true when it existed. Its tasks stay (their \`schedule\` becomes null). ${TENANT_ARG}`,
    args: { key: t.arg.string({ required: true }), tenant: t.arg.string() },
    resolve: (_root, { key, tenant }, ctx) => schedulesIn(ctx, tenant).delete(key),
  }),
  triggerSchedule: t.field({
    type: TaskRef,
    description:
      'Enqueues its task now (scheduledFor null), paused or not, whatever `overlap` says. NOT_FOUND for an unknown key; ' +
      `needs schedules:write and tasks:enqueue (or a glob) matching its task name; counts against the enqueue rate (RATE_LIMITED). ${TENANT_ARG}`,
    args: { key: t.arg.string({ required: true }), tenant: t.arg.string() },
    resolve: async (_root, { key, tenant }, ctx) => {
      const schedules = schedulesIn(ctx, tenant);
      // The name is the stored schedule's: read first (an unknown key stays NOT_FOUND, not FORBIDDEN).
      const schedule = await schedules.get(key);
      if (!schedule) return schedules.trigger(key);
      assertMayEnqueue(ctx.principal, schedule.taskName, 'key');
      // It enqueues a task, as enqueueTask does: the same per-principal enqueue rate.
      return withEnqueueBudget(ctx.limits, 1, () => schedules.trigger(key));
    },
  }),
}));
