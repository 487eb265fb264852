import type { GraphQLResolveInfo } from 'graphql';
import { BadUserInputError, NotFoundError } from '../../errors.js';
import { decodeFeedCursor, encodeFeedCursor, type FeedEvent } from '../../queue/event-feed.js';
import {
  decodeVersionCursor,
  encodeVersionCursor,
  MAX_EVENT_PAGE_SIZE,
  type TaskEventPage,
  type TaskEventRecord,
} from '../../queue/event-log.js';
import { TASK_EVENT_TYPES, type TaskEventType } from '../../queue/states.js';
import type { Task } from '../../queue/task.js';
import { builder } from '../builder.js';
import { loadedTaskOf, withEventTasks } from '../event-tasks.js';
import { fieldsOf } from '../selection.js';
import type { GraphQLContext } from '../context.js';
import { assertMayReadPayload } from '../payload-access.js';
import { PageInfoRef, TaskFilterInput, toTaskFilter } from './connection.js';
import { TaskErrorRef, TaskProgressRef, TaskRef, TaskStatusEnum } from './task.js';

async function loadTaskOf(event: TaskEventRecord, ctx: GraphQLContext): Promise<Task> {
  const task = await ctx.events.loadTask(event.taskId);
  if (!task) throw new NotFoundError('Task', event.taskId);
  return task;
}

/**
 * The events with their tasks read ahead (withEventTasks), for an operation that selects `task`; else
 * as they are (no read, and the transports' fast lane for PullStreams stays open).
 */
function withTasksIfSelected<E extends TaskEventRecord>(events: AsyncIterableIterator<E>, info: GraphQLResolveInfo, ctx: GraphQLContext): AsyncIterableIterator<E> {
  const selectsTask = fieldsOf(info.fieldNodes[0]?.selectionSet, info.fragments).some((f) => f.name.value === 'task');
  return selectsTask ? withEventTasks(events, (id) => ctx.events.loadTask(id)) : events;
}

/** Built from the core's list of event types: one source of truth. */
export const TaskEventTypeEnum = builder.enumType('TaskEventType', {
  description: 'What an entry of a task’s event log records.',
  values: TASK_EVENT_TYPES,
});

export const TaskEventRef = builder.objectRef<TaskEventRecord>('TaskEvent').implement({
  description: 'One entry of a task’s event log: every visible change, numbered by the task’s version.',
  fields: (t) => ({
    taskId: t.exposeID('taskId'),
    version: t.exposeInt('version', { description: 'The task’s version after this event: 1 = ENQUEUED, then 2, 3, … with no gap.' }),
    type: t.expose('type', { type: TaskEventTypeEnum }),
    status: t.expose('status', { type: TaskStatusEnum, description: 'The task’s status right after this event.' }),
    at: t.expose('at', { type: 'DateTime' }),
    attempt: t.exposeInt('attempt', { description: 'The attempt this event belongs to (0 before the first).' }),
    workerId: t.exposeString('workerId', { nullable: true }),
    progress: t.expose('progress', { type: TaskProgressRef, nullable: true, description: 'PROGRESS: what the handler reported.' }),
    error: t.expose('error', {
      type: TaskErrorRef,
      nullable: true,
      description: 'FAILED, RETRY_SCHEDULED, RESCUED, and CANCELLED with an error: the attempt’s error.',
    }),
    output: t.expose('output', { type: 'JSON', nullable: true, description: 'OUTPUT: one chunk, as the handler wrote it.' }),
    cursor: t.string({
      description: 'This event’s position in the global feed: resume taskEventFeed(after:) from here.',
      resolve: (event) => encodeFeedCursor(event.position),
    }),
    task: t.field({
      type: TaskRef,
      description: 'The task as it is now.',
      // Read ahead with its neighbours by the feed (withEventTasks), and then answered at once; else read now.
      resolve: (event, _args, ctx) => loadedTaskOf(event) ?? loadTaskOf(event, ctx),
    }),
  }),
});

const TaskEventEdgeRef = builder.objectRef<TaskEventRecord>('TaskEventEdge').implement({
  fields: (t) => ({
    cursor: t.string({ resolve: (event) => encodeVersionCursor(event.version) }),
    node: t.field({ type: TaskEventRef, resolve: (event) => event }),
  }),
});

const TaskEventConnectionRef = builder.objectRef<TaskEventPage>('TaskEventConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [TaskEventEdgeRef], resolve: (page) => page.events }),
    pageInfo: t.field({
      type: PageInfoRef,
      resolve: (page) => ({
        hasNextPage: page.hasNextPage,
        hasPreviousPage: page.hasPreviousPage,
        startCursor: page.events[0] ? encodeVersionCursor(page.events[0].version) : null,
        endCursor: page.events.at(-1) ? encodeVersionCursor((page.events.at(-1) as TaskEventRecord).version) : null,
      }),
    }),
  }),
});

builder.objectField(TaskRef, 'events', (t) =>
  t.field({
    type: TaskEventConnectionRef,
    description:
      `The task's event log, oldest first (keyset pages by version; first or last at most ${MAX_EVENT_PAGE_SIZE}, default first 100). ` +
      '`last: N` gives the latest N events (before `before`, when given), still oldest first: page back with `before: pageInfo.startCursor`.',
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      last: t.arg.int(),
      before: t.arg.string(),
      types: t.arg({ type: [TaskEventTypeEnum], description: 'Only these types (all when absent).' }),
    },
    resolve: async (task: Task, args, ctx) => {
      assertMayReadPayload(ctx, task, 'events');
      return ctx.queue.listTaskEvents({
        taskId: task.id,
        ...(args.after != null ? { afterVersion: decodeVersionCursor(args.after, 'after') } : {}),
        ...(args.before != null ? { beforeVersion: decodeVersionCursor(args.before, 'before') } : {}),
        ...(args.first != null ? { first: args.first } : {}),
        ...(args.last != null ? { last: args.last } : {}),
        types: (args.types ?? []) as TaskEventType[],
      });
    },
  }),
);

builder.subscriptionField('taskEvents', (t) =>
  t.field({
    type: TaskEventRef,
    description:
      'Every event of the task with a version above afterVersion, each once and in order, replayed from its log and then live; ' +
      'ends after a terminal event (at once, with none, when the task ended at or below afterVersion). Resume with the last version seen: nothing is lost or repeated, across reconnects and restarts. ' +
      'Unknown id: NOT_FOUND.',
    args: {
      id: t.arg.id({ required: true }),
      afterVersion: t.arg.int({ defaultValue: 0 }),
      types: t.arg({ type: [TaskEventTypeEnum], description: 'Only these types (all when absent); the stream still ends at the terminal event.' }),
    },
    subscribe: async (_root, args, ctx, info) => {
      const afterVersion = args.afterVersion ?? 0;
      if (!Number.isInteger(afterVersion) || afterVersion < 0) {
        throw new BadUserInputError(`afterVersion must be 0 or more, got ${afterVersion}`, { field: 'afterVersion' });
      }
      return withTasksIfSelected(await ctx.events.watchTaskEvents(args.id, afterVersion, (args.types ?? []) as TaskEventType[]), info, ctx);
    },
    resolve: (event: TaskEventRecord) => event,
  }),
);

builder.queryField('taskEventFeedCursor', (t) =>
  t.string({
    description:
      'The event feed\'s position now, as a cursor: taskEventFeed(after:) from it sends every event committed after this answer ' +
      '(and possibly some committed shortly before it). For a consumer that must not miss what is written between taking a ' +
      'starting point and subscribing (save it first), or that joins a page of tasks read now with the changes after it.',
    resolve: async (_root, _args, ctx) => {
      const end = await ctx.queue.feedEnd();
      return encodeFeedCursor({ tx: end.tx, seq: end.seq });
    },
  }),
);

builder.subscriptionField('taskEventFeed', (t) =>
  t.field({
    type: TaskEventRef,
    description:
      'Every event of every task matching filter (status: the status after the event), in the order of their transactions, from after ' +
      '(a TaskEvent.cursor) or, without it, from now on. A transaction that commits late is never skipped; one task\'s versions come ' +
      'in version order (docs/event-log.md).',
    args: { filter: t.arg({ type: TaskFilterInput }), after: t.arg.string() },
    subscribe: async (_root, args, ctx, info) => {
      const events = await ctx.events.watchEventFeed(toTaskFilter(args.filter), args.after != null ? decodeFeedCursor(args.after, 'after') : null);
      return withTasksIfSelected(events, info, ctx);
    },
    resolve: (event: FeedEvent) => event,
  }),
);

builder.objectField(TaskRef, 'outputBytes', (t) =>
  t.exposeInt('outputBytes', { description: 'Bytes of output written so far, over every attempt (capped by MAX_OUTPUT_BYTES).' }),
);
