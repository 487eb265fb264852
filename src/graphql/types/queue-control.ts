import type { LiveQueueStats, QueueInfo, QueueLimitsInput, QueueStats, RateLimit, Task, WaitReason } from '../../queue/index.js';
import { WAIT_REASONS } from '../../queue/queue-control/types.js';
import { createMicroBatcher, type MicroBatcher } from '../../queue/micro-batcher.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { queueStatsRead } from '../stats-selection.js';
import { QueueStatsRef } from './queries.js';
import { TaskRef } from './task.js';

// Flow control (DESIGN Part 2 §E, docs/flow-control.md): pause, resume, limits, waitReason.

const RateLimitRef = builder.objectRef<RateLimit>('RateLimit').implement({
  description: 'At most `max` starts per window of `perMs` ms (fixed windows aligned to the epoch).',
  fields: (t) => ({
    max: t.exposeInt('max'),
    perMs: t.exposeInt('perMs'),
  }),
});

const RateLimitInput = builder.inputType('RateLimitInput', {
  fields: (t) => ({
    max: t.int({ required: true, description: '1..1,000,000 starts per window.' }),
    perMs: t.int({ required: true, description: 'The window, 1..86,400,000 ms.' }),
  }),
});

const QueueLimitsInputRef = builder.inputType('QueueLimitsInput', {
  description: 'A field given as null clears that limit; a field left out keeps it.',
  fields: (t) => ({
    concurrency: t.int({ description: 'Most RUNNING tasks of the queue at once, across every worker (1..1,000,000).' }),
    rateLimit: t.field({ type: RateLimitInput }),
    perKeyConcurrency: t.int({ description: 'Most RUNNING tasks per concurrencyKey at once (1..1,000,000).' }),
  }),
});

export const WaitReasonEnum = builder.enumType('WaitReason', {
  description:
    'Why a waiting task has not started, read when asked (exact for that moment): BLOCKED (a workflow step waiting for its ' +
    'parents), SCHEDULED (runAfter is ahead), QUEUE_PAUSED, KEY_LIMIT, CONCURRENCY_LIMIT, RATE_LIMIT, in that precedence.',
  values: WAIT_REASONS,
});

// Stats of the live statuses alone when the operation asks no other (queueStatsRead).
const QueueRef = builder.objectRef<QueueInfo<QueueStats | LiveQueueStats>>('Queue').implement({
  description:
    'A queue by name: its pause and limits, the same for every tenant (a queue exists by name: it may be paused or limited before ' +
    'it has any task), and stats of the caller\'s tasks in it.',
  fields: (t) => ({
    name: t.exposeString('name'),
    paused: t.exposeBoolean('paused'),
    pausedAt: t.expose('pausedAt', { type: 'DateTime', nullable: true }),
    concurrency: t.exposeInt('concurrency', { nullable: true, description: 'Most RUNNING at once (claimed-ahead tasks included); null: no limit.' }),
    rateLimit: t.field({ type: RateLimitRef, nullable: true, resolve: (q) => q.rateLimit }),
    perKeyConcurrency: t.exposeInt('perKeyConcurrency', { nullable: true, description: 'Most RUNNING per concurrencyKey; null: no limit.' }),
    stats: t.field({ type: QueueStatsRef, resolve: (q) => q.stats }),
  }),
});

builder.queryField('queues', (t) =>
  t.field({
    type: [QueueRef],
    description:
      'Queues by name: those holding tasks of the caller\'s tenant (an admin: also every queue with settings). Counts tasks: for ' +
      'dashboards, not hot paths.',
    resolve: (_root, _args, ctx, info) => ctx.queue.queueControl.list(queueStatsRead(info)),
  }),
);

function toLimits(input: { concurrency?: number | null; rateLimit?: RateLimit | null; perKeyConcurrency?: number | null }): QueueLimitsInput {
  const limits: QueueLimitsInput = {};
  // A field left out is undefined (keep); one given as null clears.
  if (input.concurrency !== undefined) limits.concurrency = input.concurrency;
  if (input.rateLimit !== undefined) limits.rateLimit = input.rateLimit;
  if (input.perKeyConcurrency !== undefined) limits.perKeyConcurrency = input.perKeyConcurrency;
  return limits;
}

builder.mutationFields((t) => ({
  pauseQueue: t.field({
    type: QueueRef,
    description:
      'Stops starting tasks of the queue on every worker, within milliseconds, until resumeQueue; running tasks finish, tasks ' +
      'claimed ahead go back. Durable: holds through restarts. Needs queues:admin.',
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, { name }, ctx, info) => {
      const queue = await ctx.queue.queueControl.pause(name, queueStatsRead(info));
      // Who stopped a queue and when, for whoever finds it stopped (ctx.log names the principal).
      ctx.log.info({ queue: name }, 'queue paused');
      return queue;
    },
  }),
  resumeQueue: t.field({
    type: QueueRef,
    description: 'Starts the queue again and wakes the workers. Needs queues:admin.',
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, { name }, ctx, info) => {
      const queue = await ctx.queue.queueControl.resume(name, queueStatsRead(info));
      ctx.log.info({ queue: name }, 'queue resumed');
      return queue;
    },
  }),
  setQueueLimits: t.field({
    type: QueueRef,
    description:
      'Sets (or, with null, clears) the queue\'s limits, held strictly across every worker inside the claim. BAD_USER_INPUT names ' +
      'the field out of range. Needs queues:admin.',
    args: { name: t.arg.string({ required: true }), limits: t.arg({ type: QueueLimitsInputRef, required: true }) },
    resolve: async (_root, { name, limits }, ctx, info) => {
      const queue = await ctx.queue.queueControl.setLimits(name, toLimits(limits), queueStatsRead(info));
      ctx.log.info({ queue: name, concurrency: queue.concurrency, rateLimit: queue.rateLimit, perKeyConcurrency: queue.perKeyConcurrency }, 'queue limits set');
      return queue;
    },
  }),
}));

// One read per operation's batch of tasks (a page of 100 tasks asks once), through a micro-batcher per context.
const waitReasonReaders = new WeakMap<GraphQLContext, MicroBatcher<Task, WaitReason | null>>();

function waitReasonOf(task: Task, ctx: GraphQLContext): Promise<WaitReason | null> {
  if (task.status !== 'PENDING' && task.status !== 'RETRYING' && (task.status as string) !== 'BLOCKED') return Promise.resolve(null);
  let reader = waitReasonReaders.get(ctx);
  if (!reader) {
    reader = createMicroBatcher<Task, WaitReason | null>({ flush: (tasks) => ctx.queue.queueControl.waitReasons(tasks) });
    waitReasonReaders.set(ctx, reader);
  }
  return reader.add(task);
}

builder.objectFields(TaskRef, (t) => ({
  concurrencyKey: t.exposeString('concurrencyKey', {
    nullable: true,
    description: "Whose turn it shares, e.g. a customer id: the queue's perKeyConcurrency caps RUNNING tasks per key.",
  }),
  waitReason: t.field({
    type: WaitReasonEnum,
    nullable: true,
    description: 'Why it has not started, read now (see WaitReason); null when it is not waiting or nothing holds it but its turn.',
    resolve: (task, _args, ctx) => waitReasonOf(task, ctx),
  }),
}));
