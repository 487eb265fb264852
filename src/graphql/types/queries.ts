import { BadUserInputError } from '../../errors.js';
import { assertTaskId } from '../../queue/get.js';
import { isUuid } from '../../queue/uuid.js';
import type { LiveQueueStats, QueueStats } from '../../queue/index.js';
import { TASK_STATUSES, type TaskStatus } from '../../queue/states.js';
import { builder } from '../builder.js';
import { isReadToken } from '../guard.js';
import { NodeRef, TaskRef, TaskStatusEnum } from './task.js';

builder.queryField('taskResult', (t) =>
  t.field({
    type: TaskRef,
    nullable: true,
    description: 'A task by id; null when there is no such task (never a made-up PENDING). A malformed id is BAD_USER_INPUT.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      assertTaskId(id);
      return (await ctx.queue.getTask(id)) ?? null;
    },
  }),
);

builder.queryField('node', (t) =>
  t.field({
    type: NodeRef,
    nullable: true,
    description: "Relay's refetch: any node by id (a task's, a workflow's, a schedule's or a bulk action's id is its UUID, as in taskResult, workflow and bulkAction).",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      if (!isUuid(id)) throw new BadUserInputError(`id must be the UUID of a task, a workflow, a schedule or a bulk action, got ${JSON.stringify(id)}`, { field: 'id' });
      const task = await ctx.queue.getTask(id);
      // A read token reads only its tasks: never a workflow (its queue view has no workflows).
      if (task || isReadToken(ctx.principal)) return task ?? null;
      return (
        (await ctx.queue.workflows.get(id)) ??
        (await ctx.queue.schedules.getById(id)) ??
        (await ctx.queue.bulkActions.get(id)) ??
        null
      );
    },
  }),
);

const StatusCountRef = builder.objectRef<{ status: TaskStatus; count: number }>('StatusCount').implement({
  fields: (t) => ({
    status: t.expose('status', { type: TaskStatusEnum }),
    count: t.exposeInt('count'),
  }),
});

/**
 * A count of a read that has it. Live stats (a Queue's, when its operation asked only live fields:
 * src/graphql/stats-selection.ts) never read a finished status: a resolver asking one is a bug of
 * that choice, refused rather than answered with a made-up 0.
 */
function countOf(s: QueueStats | LiveQueueStats, status: TaskStatus): number {
  if (!('live' in s)) return s.counts[status];
  const count = (s.counts as Partial<Record<TaskStatus, number>>)[status];
  if (count === undefined) throw new Error(`QueueStats.${status.toLowerCase()} asked of stats that counted live tasks only (queueStatsRead)`);
  return count;
}

export const QueueStatsRef = builder.objectRef<QueueStats | LiveQueueStats>('QueueStats').implement({
  description: 'One queue: how many tasks are in each status, and how long the oldest due one has waited.',
  fields: (t) => ({
    queue: t.exposeString('queue'),
    counts: t.field({
      type: [StatusCountRef],
      description: 'One entry per status, in state-machine order.',
      resolve: (s) => TASK_STATUSES.map((status) => ({ status, count: countOf(s, status) })),
    }),
    // One Int per status (pending, running, …), built from the core's list.
    ...Object.fromEntries(
      TASK_STATUSES.map((status) => [status.toLowerCase(), t.int({ resolve: (s: QueueStats | LiveQueueStats) => countOf(s, status) })]),
    ),
    total: t.int({ resolve: (s) => TASK_STATUSES.reduce((sum, status) => sum + countOf(s, status), 0) }),
    oldestPendingAgeMs: t.float({
      nullable: true,
      description: 'Age in ms of the oldest task due to run now (PENDING/RETRYING whose runAfter has passed); null when none.',
      resolve: (s) => s.oldestPendingAgeMs,
    }),
  }),
});

builder.queryField('queueStats', (t) =>
  t.field({
    type: [QueueStatsRef],
    description: 'Per queue: counts by status and the oldest pending age. A full scan: for dashboards, not hot paths.',
    resolve: (_root, _args, ctx) => ctx.queue.queueStats(),
  }),
);

builder.queryField('now', (t) =>
  t.field({
    type: 'DateTime',
    description:
      "The database's clock now, which every stamp of a task (enqueuedAt, startedAt, lastAttemptedAt, …) was read from. A client showing how long ago a stamp was measures its own clock's offset against this (the dashboard does), so a skewed client clock does not show in the elapsed times.",
    resolve: (_root, _args, ctx) => ctx.queue.now(),
  }),
);
