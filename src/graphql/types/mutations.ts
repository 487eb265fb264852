import { withEnqueueBudget } from '../../auth/rate-limit.js';
import { BadUserInputError } from '../../errors.js';
import type { EnqueueInput } from '../../queue/index.js';
import type { Backoff, Task } from '../../queue/task.js';
import { builder } from '../builder.js';
import { withFieldPrefix } from '../errors.js';
import { assertMayReplay, replayCheck } from '../idempotent-replay.js';
import { issueReadToken } from '../issue-read-token.js';
import { TaskRef } from './task.js';

/**
 * Float for the ms: baseMs and maxMs reach a year (src/queue/backoff.ts), beyond Int's 2^31 − 1,
 * as durationMs is a Float. The core checks ranges and whole numbers and names the setting.
 */
export const BackoffInput = builder.inputType('BackoffInput', {
  description: "The retry delay: min(maxMs, baseMs × factor^(attempt − 1)), then ±jitter. Unset settings: the task definition's backoff's, then the defaults.",
  fields: (t) => ({
    baseMs: t.float({ description: 'Delay after the first failed attempt, in ms: 0..31536000000 (a year; default 1000).' }),
    maxMs: t.float({ description: 'Longest delay, in ms: 0..31536000000 (default 600000).' }),
    factor: t.float({ description: 'Growth per attempt: 1..100 (1: a fixed delay; default 2).' }),
    jitter: t.float({ description: 'Random spread as a fraction of the delay: 0..1 (default 0.25).' }),
  }),
});

/** A GraphQL backoff as the core's: a null setting is "not given" (the core would refuse a null). */
export function toBackoff(input: typeof BackoffInput.$inferInput | null | undefined): Partial<Backoff> | undefined {
  if (input == null) return undefined;
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value != null)) as Partial<Backoff>;
}

export const EnqueueTaskInput = builder.inputType('EnqueueTaskInput', {
  description: "Unset options fall back to the task definition's, then to the defaults.",
  fields: (t) => ({
    name: t.string({ required: true, description: 'A registered task name, e.g. "math.copysign".' }),
    args: t.field({ type: 'JSON', description: 'Positional arguments: a JSON array (default []).' }),
    kwargs: t.field({ type: 'JSON', description: 'Keyword arguments: a JSON object (default {}).' }),
    queue: t.string(),
    priority: t.int({ description: '-100..100, higher runs first (default 0).' }),
    runAfter: t.field({ type: 'DateTime', description: 'Do not run before this time.' }),
    maxAttempts: t.int({ description: '1..1000 (default 1: retries are asked for).' }),
    idempotencyKey: t.string({
      description: "Same key again: the first task is returned, no second one is made; the second input's options (timeoutMs, backoff, …) are ignored.",
    }),
    concurrencyKey: t.string({ description: "Whose turn it shares, e.g. a customer id: the queue's perKeyConcurrency caps RUNNING tasks per key." }),
    timeoutMs: t.int({
      description: "Each attempt's time limit, in ms: 1..2147483647 (default: the task definition's, else none). Past it the handler's signal aborts and the attempt fails with a TimeoutError.",
    }),
    // Float: the core takes up to 1,000 years of ms (MAX_RESULT_TTL_MS), beyond Int's 2^31 − 1 (25 days).
    resultTtlMs: t.float({
      description: 'How long the finished task is kept, in ms from finishedAt (expiresAt): a whole number 0..31557600000000 (default: the definition\'s, else RESULT_TTL_MS).',
    }),
    backoff: t.field({ type: BackoffInput, description: "Retry spacing (with maxAttempts > 1); replaces the definition's backoff setting by setting." }),
  }),
});

const EnqueueTaskPayload = builder.objectRef<{ task: Task }>('EnqueueTaskPayload').implement({
  fields: (t) => ({
    task: t.field({ type: TaskRef, resolve: (p) => p.task }),
    readToken: t.string({
      nullable: true,
      description:
        'A read token for this task alone (READ_TOKEN_TTL_S, default 3600 s): hand it to a browser to read and subscribe to the task. ' +
        'Null while AUTH_MODE=off.',
      // Signed only when asked for (most enqueues do not select it), and after the task is stored: a
      // token that cannot be made is this field's error, not the stored task's mutation failing.
      resolve: async (p, _args, ctx) => (await issueReadToken(ctx, [p.task]))?.token ?? null,
    }),
  }),
});

const EnqueueTasksPayload = builder.objectRef<{ tasks: Task[] }>('EnqueueTasksPayload').implement({
  fields: (t) => ({
    tasks: t.field({
      type: [TaskRef],
      description: 'In the order of inputs; an input whose idempotencyKey was taken (or repeats an earlier input\'s): the task stored under it.',
      resolve: (p) => p.tasks,
    }),
  }),
});

/**
 * The most inputs one enqueueTasks takes: a statement of 1,000 is ~50 ms of the database's time
 * (bulk enqueue, bench (d)), so one call holds no connection for long, and its answer (the tasks
 * with what a client selects of them) stays in proportion to the 1 MiB request that made it.
 */
export const MAX_ENQUEUE_BATCH = 1000;

const orUndefined = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

/** An EnqueueTaskInput as the core takes it: unset (null) options fall back to the definition's. */
function toEnqueueInput(input: typeof EnqueueTaskInput.$inferInput): EnqueueInput {
  return {
    name: input.name,
    args: orUndefined(input.args) as unknown[] | undefined,
    kwargs: orUndefined(input.kwargs) as Record<string, unknown> | undefined,
    queue: orUndefined(input.queue),
    priority: orUndefined(input.priority),
    runAfter: orUndefined(input.runAfter),
    maxAttempts: orUndefined(input.maxAttempts),
    idempotencyKey: orUndefined(input.idempotencyKey),
    concurrencyKey: orUndefined(input.concurrencyKey),
    timeoutMs: orUndefined(input.timeoutMs),
    resultTtlMs: orUndefined(input.resultTtlMs),
    backoff: toBackoff(input.backoff),
  };
}

builder.mutationFields((t) => ({
  enqueueTask: t.field({
    type: EnqueueTaskPayload,
    description:
      'Stores a PENDING task and answers at once. UNKNOWN_TASK, INVALID_ARGUMENTS or BAD_USER_INPUT store nothing. ' +
      'Needs tasks:enqueue or a tasks:enqueue:<glob> matching input.name (else FORBIDDEN); over the enqueue rate: RATE_LIMITED with retryAfterMs.',
    args: { input: t.arg({ type: EnqueueTaskInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      // Taken before the insert (a refused enqueue stores nothing), given back if it fails. The guard has checked the scope already.
      const task = await withEnqueueBudget(ctx.limits, 1, async () => {
        // The core validates shapes and ranges (args must be an array, …) and names the field.
        const stored = await withFieldPrefix('input.', () => ctx.queue.enqueue(toEnqueueInput(input)));
        await assertMayReplay(ctx, input.idempotencyKey, () => [stored.createdBy]);
        return stored;
      });
      return { task };
    },
  }),
  enqueueTasks: t.field({
    type: EnqueueTasksPayload,
    description:
      `enqueueTask for 1..${MAX_ENQUEUE_BATCH} inputs in one statement, all or nothing: an UNKNOWN_TASK, INVALID_ARGUMENTS, BAD_USER_INPUT or CONFLICT ` +
      'stores none of them and names the input (extensions.field, e.g. inputs[3].args). Each task counts against the enqueue rate (over it: RATE_LIMITED, ' +
      'nothing stored); each name needs tasks:enqueue or a matching tasks:enqueue:<glob> (else FORBIDDEN naming inputs[i].name). ' +
      'No read tokens: createReadToken makes one for up to 100 of the tasks.',
    args: { inputs: t.arg({ type: [EnqueueTaskInput], required: true }) },
    resolve: async (_root, { inputs }, ctx) => {
      if (inputs.length === 0 || inputs.length > MAX_ENQUEUE_BATCH) {
        throw new BadUserInputError(`inputs must hold 1 to ${MAX_ENQUEUE_BATCH} tasks, got ${inputs.length}`, { field: 'inputs' });
      }
      const checkExisting = replayCheck(ctx, 'inputs');
      // A batch refused (a bad input, a replay refused) stores nothing and spends nothing.
      const tasks = await withEnqueueBudget(ctx.limits, inputs.length, () =>
        ctx.queue.enqueueMany(inputs.map(toEnqueueInput), { fieldPrefix: 'inputs', ...(checkExisting ? { checkExisting } : {}) }),
      );
      return { tasks };
    },
  }),
  cancelTask: t.field({
    type: TaskRef,
    description: 'PENDING/RETRYING → CANCELLED at once; RUNNING → its handler is aborted, then CANCELLED. CONFLICT once finished otherwise.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.queue.cancelTask(id),
  }),
  retryTask: t.field({
    type: TaskRef,
    description:
      'FAILED/CANCELLED → PENDING with fresh attempts (a workflow step whose parents have not all ended: BLOCKED until they end); ' +
      'earlier errors are kept. CONFLICT otherwise, and for a step of a cancelled workflow.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.queue.retryTask(id),
  }),
  runTaskNow: t.field({
    type: TaskRef,
    description:
      'A PENDING or RETRYING task waiting for its runAfter (enqueued for later, snoozed, backing off before a retry) becomes due now: ' +
      'runAfter is set to now, its status and attempts stay, a PROMOTED event is logged and its queue\'s workers are woken. ' +
      'A paused queue, limits or a workflow\'s parents still hold it. One already due is answered as it is; ' +
      'CONFLICT when it is RUNNING, finished or BLOCKED. Needs tasks:retry.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.queue.runTaskNow(id),
  }),
}));
