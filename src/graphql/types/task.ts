import { TASK_STATUSES, isTerminal } from '../../queue/states.js';
import { DEFAULT_BACKOFF } from '../../queue/backoff.js';
import type { Backoff, Task, TaskError, TaskProgress } from '../../queue/task.js';
import { builder } from '../builder.js';
import { assertMayReadPayload } from '../payload-access.js';

/** Built from the core's list of states: one source of truth. */
export const TaskStatusEnum = builder.enumType('TaskStatus', {
  description: 'Where a task is in its life: PENDING → RUNNING → SUCCEEDED | RETRYING | FAILED; CANCELLED on request.',
  values: TASK_STATUSES,
});

/** Relay's Node: anything with a globally unique id. A task's id is its UUID. */
export const NodeRef = builder.interfaceRef<{ id: string }>('Node').implement({
  description: 'An object with a globally unique id (a task\'s, a workflow\'s, a schedule\'s or a bulk action\'s UUID).',
  // Workflows (types/workflow.ts), schedules (types/schedule.ts) and bulk actions (types/bulk-action.ts) are the other
  // nodes: only they have steps, a cron, matched/processed counts.
  resolveType: (node) =>
    'steps' in node ? 'Workflow' : 'cron' in node ? 'Schedule' : 'matched' in node && 'processed' in node ? 'BulkAction' : 'Task',
  fields: (t) => ({ id: t.exposeID('id') }),
});

export const TaskErrorRef = builder.objectRef<TaskError>('TaskError').implement({
  description: 'One failed attempt.',
  fields: (t) => ({
    exceptionType: t.exposeString('exceptionType'),
    message: t.exposeString('message'),
    traceback: t.exposeString('traceback', { nullable: true }),
    attempt: t.exposeInt('attempt'),
    at: t.expose('at', { type: 'DateTime' }),
    workerId: t.exposeString('workerId', { nullable: true }),
  }),
});

export const TaskProgressRef = builder.objectRef<TaskProgress>('TaskProgress').implement({
  description: "The latest progress a running task reported (its handler's ctx.progress).",
  fields: (t) => ({
    current: t.exposeFloat('current', { nullable: true }),
    total: t.exposeFloat('total', { nullable: true }),
    message: t.exposeString('message', { nullable: true }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

/**
 * A retry spacing as it applies: the stored settings (the enqueue's, else the definition's, fixed at
 * enqueue), the others the defaults, as src/queue/backoff.ts backoffDelayMs fills them.
 */
export const BackoffRef = builder.objectRef<Partial<Backoff>>('Backoff').implement({
  description: 'The retry delay: min(maxMs, baseMs × factor^(attempt − 1)), then ±jitter (a fraction).',
  fields: (t) => ({
    baseMs: t.float({ description: 'Delay after the first failed attempt, in ms.', resolve: (b) => b.baseMs ?? DEFAULT_BACKOFF.baseMs }),
    maxMs: t.float({ description: 'Longest delay, in ms.', resolve: (b) => b.maxMs ?? DEFAULT_BACKOFF.maxMs }),
    factor: t.float({ description: 'Growth per attempt.', resolve: (b) => b.factor ?? DEFAULT_BACKOFF.factor }),
    jitter: t.float({ description: 'Random spread, a fraction of the delay.', resolve: (b) => b.jitter ?? DEFAULT_BACKOFF.jitter }),
  }),
});

const ms = (from: Date | null, to: Date | null): number | null => (from && to ? to.getTime() - from.getTime() : null);

/** A task as the core returns it (the domain type, not the table row). */
export const TaskRef = builder.objectRef<Task>('Task').implement({
  description: 'A background task: what was asked for, where it is, and how it ended.',
  interfaces: [NodeRef],
  fields: (t) => ({
    name: t.exposeString('name'),
    queue: t.exposeString('queue'),
    priority: t.exposeInt('priority', { description: '-100..100, higher runs first.' }),
    status: t.expose('status', { type: TaskStatusEnum }),
    isFinished: t.boolean({ description: 'SUCCEEDED, FAILED or CANCELLED.', resolve: (task) => isTerminal(task.status) }),
    version: t.exposeInt('version', { description: 'Goes up by one on every change (status, attempt, progress).' }),
    // The payload fields (args, kwargs, returnValue, errors, progress, events) need tasks:read or having enqueued the task (payload-access.ts).
    args: t.field({ type: 'JSON', resolve: (task, _args, ctx) => (assertMayReadPayload(ctx, task, 'args'), task.args) }),
    kwargs: t.field({ type: 'JSON', resolve: (task, _args, ctx) => (assertMayReadPayload(ctx, task, 'kwargs'), task.kwargs) }),
    returnValue: t.field({
      type: 'JSON',
      nullable: true,
      description: 'What the handler returned; null unless SUCCEEDED.',
      resolve: (task, _args, ctx) => (assertMayReadPayload(ctx, task, 'returnValue'), task.status === 'SUCCEEDED' ? task.returnValue : null),
    }),
    errors: t.field({
      type: [TaskErrorRef],
      description: 'One per failed attempt, oldest first.',
      resolve: (task, _args, ctx) => (assertMayReadPayload(ctx, task, 'errors'), task.errors),
    }),
    attempts: t.exposeInt('attempts'),
    maxAttempts: t.exposeInt('maxAttempts'),
    workerIds: t.exposeStringList('workerIds', { description: 'The worker of each attempt, in order.' }),
    progress: t.field({ type: TaskProgressRef, nullable: true, resolve: (task, _args, ctx) => (assertMayReadPayload(ctx, task, 'progress'), task.progress) }),
    enqueuedAt: t.expose('enqueuedAt', { type: 'DateTime' }),
    runAfter: t.expose('runAfter', { type: 'DateTime', nullable: true, description: 'Not claimed before this time.' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true, description: 'When the first attempt started.' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    lastAttemptedAt: t.expose('lastAttemptedAt', { type: 'DateTime', nullable: true }),
    durationMs: t.float({
      nullable: true,
      description: 'finishedAt − startedAt in ms; null until finished.',
      resolve: (task) => ms(task.startedAt, task.finishedAt),
    }),
    cancelRequested: t.exposeBoolean('cancelRequested', { description: 'cancelTask was called; a running handler is being aborted.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'When a finished task is deleted.' }),
    idempotencyKey: t.exposeString('idempotencyKey', { nullable: true }),
    timeoutMs: t.exposeInt('timeoutMs', { nullable: true, description: "Each attempt's time limit, in ms; null: the task definition's, if any." }),
    resultTtlMs: t.exposeFloat('resultTtlMs', {
      nullable: true,
      description: "How long it is kept once finished, in ms (expiresAt = finishedAt + this); null: the server's RESULT_TTL_MS.",
    }),
    backoff: t.field({
      type: BackoffRef,
      description: "The spacing of its retries: the enqueue's settings, else its definition's, else the defaults.",
      resolve: (task) => task.backoff ?? {},
    }),
    tenant: t.exposeString('tenant', { description: 'The tenant it belongs to: only principals of that tenant (and admins) see it. `default` while auth is off.' }),
    createdBy: t.exposeString('createdBy', {
      nullable: true,
      description: 'The principal that enqueued it (an API key id or a JWT subject); null while auth is off and for tasks enqueued in process.',
    }),
  }),
});
