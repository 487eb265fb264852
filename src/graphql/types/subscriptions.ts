import { BadUserInputError } from '../../errors.js';
import type { Task } from '../../queue/task.js';
import { builder } from '../builder.js';
import { TaskFilterInput, toTaskFilter } from './connection.js';
import { TaskRef } from './task.js';

builder.subscriptionField('taskStatusChanged', (t) =>
  t.field({
    type: TaskRef,
    description:
      'With id: the current state first, then each change in version order (no version twice); ends after a terminal state. ' +
      'Unknown id: NOT_FOUND. Without id: every change of any task matching filter.',
    args: { id: t.arg.id(), filter: t.arg({ type: TaskFilterInput }) },
    subscribe: (_root, args, ctx) => {
      if (args.id == null) return ctx.events.watchTasks(toTaskFilter(args.filter));
      if (args.filter) throw new BadUserInputError('Pass either id or filter, not both', { field: 'filter' });
      return ctx.events.watchTask(args.id);
    },
    resolve: (task: Task) => task,
  }),
);
