import { BadUserInputError } from '../../errors.js';
import type { BulkAction } from '../../queue/bulk-actions/types.js';
import { isUuid } from '../../queue/uuid.js';
import { BULK_ACTION_KINDS, BULK_ACTION_STATUSES } from '../../states.js';
import { builder } from '../builder.js';
import { TaskFilterInput, toTaskFilter } from './connection.js';
import { NodeRef } from './task.js';

/** Built from the core's lists: one source of truth. */
const BulkActionKindEnum = builder.enumType('BulkActionKind', {
  description: "What a bulk action does to each of its tasks: cancelTask's or retryTask's change.",
  values: BULK_ACTION_KINDS,
});

const BulkActionStatusEnum = builder.enumType('BulkActionStatus', {
  description: 'RUNNING until each of its tasks is processed (DONE), or stopped by an error (FAILED).',
  values: BULK_ACTION_STATUSES,
});

export const BulkActionRef = builder.objectRef<BulkAction>('BulkAction').implement({
  description:
    'cancelTasks / retryTasks: the change applied, in batches, to the tasks that matched the filter when the action was created ' +
    '(not to later ones). processed of matched tasks were looked at; changed of those were cancelled or retried ' +
    '(the others had meanwhile reached a state the change leaves alone).',
  interfaces: [NodeRef],
  fields: (t) => ({
    kind: t.expose('kind', { type: BulkActionKindEnum }),
    status: t.expose('status', { type: BulkActionStatusEnum }),
    matched: t.exposeInt('matched'),
    processed: t.exposeInt('processed'),
    changed: t.exposeInt('changed'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    version: t.exposeInt('version', { description: 'Bumped by every change (each batch, the end).' }),
    error: t.exposeString('error', { nullable: true, description: 'Why it FAILED.' }),
  }),
});

function assertBulkActionId(id: string): void {
  if (!isUuid(id)) throw new BadUserInputError(`id must be a bulk action id (a UUID), got ${JSON.stringify(id)}`, { field: 'id' });
}

builder.queryField('bulkAction', (t) =>
  t.field({
    type: BulkActionRef,
    nullable: true,
    description: 'A bulk action by id; null when unknown (or another tenant\'s). A malformed id is BAD_USER_INPUT.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      assertBulkActionId(id);
      return (await ctx.queue.bulkActions.get(id)) ?? null;
    },
  }),
);

builder.mutationFields((t) => ({
  cancelTasks: t.field({
    type: BulkActionRef,
    description:
      'cancelTask for every task matching filter now (later ones are not touched), run in batches by the workers; follow it with ' +
      'bulkActionChanged. Waiting tasks become CANCELLED, running ones get their cancellation requested. Needs tasks:cancel.',
    args: { filter: t.arg({ type: TaskFilterInput, required: true }) },
    resolve: (_root, { filter }, ctx) => ctx.queue.bulkActions.create('CANCEL', toTaskFilter(filter)),
  }),
  retryTasks: t.field({
    type: BulkActionRef,
    description:
      'retryTask for every task matching filter now (later ones are not touched), run in batches by the workers, each task at most ' +
      'once; FAILED/CANCELLED ones go back to PENDING (or BLOCKED, as retryTask; steps of a cancelled workflow are left alone). Needs tasks:retry.',
    args: { filter: t.arg({ type: TaskFilterInput, required: true }) },
    resolve: (_root, { filter }, ctx) => ctx.queue.bulkActions.create('RETRY', toTaskFilter(filter)),
  }),
}));

builder.subscriptionField('bulkActionChanged', (t) =>
  t.field({
    type: BulkActionRef,
    description: 'The current state first, then each newer version (none twice); ends after DONE or FAILED. Unknown id: NOT_FOUND.',
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, { id }, ctx) => ctx.bulkActionEvents.watchBulkAction(id),
    resolve: (action: BulkAction) => action,
  }),
);
