import { encodeCursor, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE } from '../../queue/list.js';
import type { Task, TaskFilter, TaskPage } from '../../queue/index.js';
import type { TaskStatus } from '../../queue/states.js';
import { builder } from '../builder.js';
import { TaskRef, TaskStatusEnum } from './task.js';

export const TaskFilterInput = builder.inputType('TaskFilter', {
  description: 'All given conditions must hold.',
  fields: (t) => ({
    status: t.field({ type: [TaskStatusEnum], description: 'Any of these statuses; empty or null: every status.' }),
    name: t.string(),
    queue: t.string(),
    enqueuedAfter: t.field({ type: 'DateTime' }),
    enqueuedBefore: t.field({ type: 'DateTime' }),
    workflowId: t.id({ description: 'Only the steps of this workflow.' }),
  }),
});

type TaskFilterArg = typeof TaskFilterInput.$inferInput;

/** The GraphQL filter as the core's (GraphQL's nulls become "not given"). */
export function toTaskFilter(input: TaskFilterArg | null | undefined): TaskFilter {
  if (!input) return {};
  return {
    ...(input.status ? { status: input.status as TaskStatus[] } : {}),
    ...(input.name != null ? { name: input.name } : {}),
    ...(input.queue != null ? { queue: input.queue } : {}),
    ...(input.enqueuedAfter ? { enqueuedAfter: input.enqueuedAfter } : {}),
    ...(input.enqueuedBefore ? { enqueuedBefore: input.enqueuedBefore } : {}),
    ...(input.workflowId != null ? { workflowId: input.workflowId } : {}),
  };
}

/** Relay page info, shared by every connection. */
export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export const PageInfoRef = builder.objectRef<PageInfo>('PageInfo').implement({
  description: 'Relay cursor-connection page info.',
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

function taskPageInfo(page: TaskPage): PageInfo {
  return { hasNextPage: page.hasNextPage, hasPreviousPage: page.hasPreviousPage, startCursor: page.startCursor, endCursor: page.endCursor };
}

// An edge is its task; the cursor is derived from the id.
const TaskEdgeRef = builder.objectRef<Task>('TaskEdge').implement({
  fields: (t) => ({
    cursor: t.string({ resolve: (task) => encodeCursor(task.id) }),
    node: t.field({ type: TaskRef, resolve: (task) => task }),
  }),
});

/** A page of tasks (tasks, Schedule.runs). */
export const TaskConnectionRef = builder.objectRef<TaskPage>('TaskConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [TaskEdgeRef], resolve: (page) => page.tasks }),
    pageInfo: t.field({ type: PageInfoRef, resolve: taskPageInfo }),
    totalCount: t.int({
      description: 'Tasks matching the filter, all pages together. Counted only when selected.',
      resolve: (page) => page.totalCount(),
    }),
  }),
});

builder.queryField('tasks', (t) =>
  t.field({
    type: TaskConnectionRef,
    description: `Tasks, newest first (keyset cursors, stable while tasks are added). first/last: at most ${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}.`,
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      last: t.arg.int(),
      before: t.arg.string(),
      filter: t.arg({ type: TaskFilterInput }),
    },
    resolve: (_root, args, ctx) =>
      ctx.queue.listTasks({
        first: args.first ?? undefined,
        after: args.after ?? undefined,
        last: args.last ?? undefined,
        before: args.before ?? undefined,
        filter: toTaskFilter(args.filter),
      }),
  }),
);
