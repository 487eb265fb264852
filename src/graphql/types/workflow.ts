/**
 * Workflows (DESIGN.md Part 2 §C): graphs of tasks whose steps start when their parents end.
 * The core (src/queue/workflows) stores and runs them; this file is the API: the types,
 * Query.workflow, enqueueWorkflow / cancelWorkflow, workflowChanged, and Task.workflow /
 * Task.dependsOn / Task.stepRef. Another tenant's workflow reads as an unknown one because
 * ctx.queue and ctx.workflowEvents are already scoped to the caller's tenant.
 */
import { withEnqueueBudget } from '../../auth/rate-limit.js';
import { mayReadTask } from '../../auth/scopes.js';
import { NotFoundError } from '../../errors.js';
import type { EnqueueInput, Task } from '../../queue/index.js';
import {
  DEPENDENCY_FAILURE_POLICIES,
  WORKFLOW_STATUSES,
  type EnqueueWorkflowInput,
  type Workflow,
  type WorkflowStep,
  type WorkflowStepCounts,
} from '../../queue/workflows/types.js';
import { assertMayReplay } from '../idempotent-replay.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { withFieldPrefix } from '../errors.js';
import { isReadToken } from '../guard.js';
import { assertWorkflowId } from '../workflow-events.js';
import { EnqueueTaskInput, toBackoff } from './mutations.js';
import { NodeRef, TaskRef } from './task.js';

export const DependencyFailurePolicyEnum = builder.enumType('DependencyFailurePolicy', {
  description: 'What becomes of a step when a parent FAILED or was CANCELLED: CANCEL it (and its dependents), or RUN_ANYWAY once every parent ended.',
  values: DEPENDENCY_FAILURE_POLICIES,
});

export const WorkflowStatusEnum = builder.enumType('WorkflowStatus', {
  description: 'RUNNING until nothing is left to run; SUCCEEDED when every step did; FAILED when one failed; CANCELLED by cancelWorkflow.',
  values: WORKFLOW_STATUSES,
});

const WorkflowStepInput = builder.inputType('WorkflowStepInput', {
  fields: (t) => ({
    ref: t.string({ required: true, description: "The step's name, unique in the workflow: what dependsOn and a handler's ctx.dependencies call it." }),
    task: t.field({ type: EnqueueTaskInput, required: true }),
    dependsOn: t.stringList({ description: 'Refs of the steps this one waits for (none: it starts at once; some: it starts BLOCKED).' }),
    onDependencyFailure: t.field({ type: DependencyFailurePolicyEnum, description: 'Default CANCEL.' }),
  }),
});

const EnqueueWorkflowInputRef = builder.inputType('EnqueueWorkflowInput', {
  fields: (t) => ({
    name: t.string({ description: 'A label for people.' }),
    steps: t.field({ type: [WorkflowStepInput], required: true }),
    idempotencyKey: t.string({ description: 'Same key again (same tenant): the stored workflow is returned, nothing new is made.' }),
  }),
});

/**
 * Tasks by id for step and parent fields: the hub's loader (ctx.events.loadTask) reads every id
 * asked for in one turn in one query, limited to the caller's tenant. A read token sees only its
 * own tasks here too (child fields run with the operation's context, not the guard's view).
 */
async function loadTasks(ctx: GraphQLContext, ids: readonly string[]): Promise<(Task | undefined)[]> {
  const principal = ctx.principal;
  const readable = isReadToken(principal) ? ids.filter((id) => mayReadTask({ ...principal, taskIds: principal.taskIds ?? [] }, id)) : ids;
  return Promise.all(readable.map((id) => ctx.events.loadTask(id)));
}

/** Workflows asked for in one turn of one operation share their read (a page of a workflow's tasks costs one). */
const workflowReads = new WeakMap<object, Map<string, Promise<Workflow | undefined>>>();
function loadWorkflow(ctx: GraphQLContext, id: string): Promise<Workflow | undefined> {
  const key = ctx.queue;
  let batch = workflowReads.get(key);
  if (!batch) {
    const made = new Map<string, Promise<Workflow | undefined>>();
    batch = made;
    workflowReads.set(key, made);
    // Only for this turn: a subscription resolving Task.workflow later must read it afresh.
    setImmediate(() => {
      if (workflowReads.get(key) === made) workflowReads.delete(key);
    });
  }
  let read = batch.get(id);
  if (!read) {
    read = ctx.queue.workflows.get(id);
    batch.set(id, read);
  }
  return read;
}

export const WorkflowStepRef = builder.objectRef<WorkflowStep>('WorkflowStep').implement({
  description: 'One step of a workflow: its task and the refs of the steps it waits for.',
  fields: (t) => ({
    ref: t.exposeString('ref'),
    task: t.field({
      type: TaskRef,
      description: "The step's task (its status is the step's state; BLOCKED while it waits for its parents).",
      resolve: async (step, _args, ctx) => {
        const [task] = await loadTasks(ctx, [step.taskId]);
        // A finished workflow's tasks may have expired (result retention): said, not a crash.
        if (!task) throw new NotFoundError('Task', step.taskId, { field: 'task' });
        return task;
      },
    }),
    dependsOn: t.exposeStringList('dependsOn', { description: 'Refs of its parents.' }),
  }),
});

const WorkflowStepCountsRef = builder.objectRef<WorkflowStepCounts>('WorkflowStepCounts').implement({
  description: "A workflow's progress, from its own row (no step is read): what a progress bar or a watcher of a big workflow asks for instead of steps.",
  fields: (t) => ({
    total: t.exposeInt('total', { description: 'Its steps.' }),
    finished: t.exposeInt('finished', { description: 'Steps that ended: SUCCEEDED, FAILED or CANCELLED.' }),
    succeeded: t.exposeInt('succeeded', { description: 'Steps that SUCCEEDED.' }),
  }),
});

export const WorkflowRef = builder.objectRef<Workflow>('Workflow').implement({
  description: 'A graph of tasks enqueued together: each step starts once its parents have ended, with their results in ctx.dependencies.',
  interfaces: [NodeRef],
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'steps' in value,
  fields: (t) => ({
    name: t.exposeString('name', { nullable: true }),
    status: t.expose('status', { type: WorkflowStatusEnum }),
    version: t.exposeInt('version', { description: 'Goes up by one on every change of the workflow (what workflowChanged delivers).' }),
    steps: t.expose('steps', { type: [WorkflowStepRef], description: 'In the order they were given.' }),
    stepCounts: t.expose('stepCounts', { type: WorkflowStepCountsRef }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
  }),
});

/** The step fields the workflow core puts on a task (optional here: rows read before the workflow migration lack them). */
interface StepFields {
  workflowId?: string | null;
  stepRef?: string | null;
  dependsOn?: readonly string[];
}

builder.objectFields(TaskRef, (t) => ({
  workflow: t.field({
    type: WorkflowRef,
    nullable: true,
    description: 'The workflow this task is a step of; null for a task enqueued on its own (and for a read token).',
    resolve: async (task: StepFields, _args, ctx) => {
      if (!task.workflowId || isReadToken(ctx.principal)) return null;
      return (await loadWorkflow(ctx, task.workflowId)) ?? null;
    },
  }),
  stepRef: t.string({
    nullable: true,
    description: "Its step's ref in its workflow; null outside a workflow.",
    resolve: (task: StepFields) => task.stepRef ?? null,
  }),
  dependsOn: t.field({
    type: [TaskRef],
    description: 'The tasks it waits for (its parents in its workflow); [] outside a workflow.',
    resolve: async (task: StepFields, _args, ctx) => (await loadTasks(ctx, task.dependsOn ?? [])).filter((t): t is Task => t !== undefined),
  }),
}));

const EnqueueWorkflowPayloadRef = builder.objectRef<{ workflow: Workflow }>('EnqueueWorkflowPayload').implement({
  fields: (t) => ({ workflow: t.field({ type: WorkflowRef, resolve: (p) => p.workflow }) }),
});

type StepArg = typeof WorkflowStepInput.$inferInput;
type TaskArg = StepArg['task'];

/** The GraphQL task input as the core's (its fields have the same names; GraphQL's nulls are "not given"). */
function toEnqueueInput(input: TaskArg): EnqueueInput {
  const { backoff, ...rest } = input;
  const task = Object.fromEntries(Object.entries(rest).filter(([, value]) => value != null)) as unknown as EnqueueInput;
  // One level down too: a null backoff setting is "not given", not a value the core would refuse.
  const settings = toBackoff(backoff);
  return settings === undefined ? task : { ...task, backoff: settings };
}

function toWorkflowInput(input: typeof EnqueueWorkflowInputRef.$inferInput): EnqueueWorkflowInput {
  return {
    ...(input.name != null ? { name: input.name } : {}),
    ...(input.idempotencyKey != null ? { idempotencyKey: input.idempotencyKey } : {}),
    steps: input.steps.map((step) => ({
      ref: step.ref,
      task: toEnqueueInput(step.task),
      ...(step.dependsOn != null ? { dependsOn: step.dependsOn } : {}),
      ...(step.onDependencyFailure != null ? { onDependencyFailure: step.onDependencyFailure } : {}),
    })),
  };
}

builder.queryField('workflow', (t) =>
  t.field({
    type: WorkflowRef,
    nullable: true,
    description: "A workflow by id; null when there is none (or it is another tenant's). A malformed id is BAD_USER_INPUT.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      assertWorkflowId(id);
      return (await ctx.queue.workflows.get(id)) ?? null;
    },
  }),
);

builder.mutationFields((t) => ({
  enqueueWorkflow: t.field({
    type: EnqueueWorkflowPayloadRef,
    description:
      'Stores every step in one statement, or none: a cycle, an unknown or duplicate ref, or a bad step is BAD_USER_INPUT naming the step ' +
      '(extensions.field, e.g. input.steps[2].dependsOn). Steps without dependsOn start PENDING, the others BLOCKED. Each step counts against the ' +
      'enqueue rate; each task name needs tasks:enqueue or a matching tasks:enqueue:<glob> (else FORBIDDEN).',
    args: { input: t.arg({ type: EnqueueWorkflowInputRef, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const workflow = await withEnqueueBudget(ctx.limits, Math.max(1, input.steps.length), async () => {
        const stored = await withFieldPrefix('input.', () => ctx.queue.workflows.enqueue(toWorkflowInput(input)));
        await assertMayReplay(ctx, input.idempotencyKey, async () =>
          (await ctx.queue.getTasks(stored.steps.map((step) => step.taskId))).map((task) => task.createdBy),
        );
        return stored;
      });
      return { workflow };
    },
  }),
  cancelWorkflow: t.field({
    type: WorkflowRef,
    description: 'Cancels every step that has not finished (running ones through their AbortSignal); the workflow becomes CANCELLED. A finished one is returned as it is. Unknown id: NOT_FOUND.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => {
      assertWorkflowId(id);
      return ctx.queue.workflows.cancel(id);
    },
  }),
}));

builder.subscriptionField('workflowChanged', (t) =>
  t.field({
    type: WorkflowRef,
    description:
      'The current state first, then each newer version (none twice; a burst may skip intermediate ones) until the workflow is finished; ' +
      'then the stream completes. Step states come with each version (steps { task { status } }). Unknown id: NOT_FOUND.',
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, { id }, ctx) => ctx.workflowEvents.watchWorkflow(id),
    resolve: (workflow: Workflow) => workflow,
  }),
);
