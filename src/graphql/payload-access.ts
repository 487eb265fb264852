import { hasScope, mayReadTask } from '../auth/scopes.js';
import { ForbiddenError } from '../errors.js';
import type { Task } from '../queue/task.js';
import type { GraphQLContext } from './context.js';

/**
 * What a task carries beyond where it stands (its arguments, result, errors, progress and event
 * log) is read with `tasks:read`, or by whoever enqueued it. Queries and subscriptions need
 * `tasks:read` at their root already; mutations do not, and their answers reach tasks of other
 * principals: a key with only `schedules:write` read every run's result through `pauseSchedule { runs
 * … }`, one with only `tasks:cancel` a whole workflow's through `cancelTask { workflow { steps … } }`
 * (a security tester's find). A read token reads its own tasks (the guard keeps it to them). Nothing here depends on who asks beyond that scope for a principal that holds it, so
 * shared subscription results (src/server/live/shared-results.ts) are unaffected.
 */
export function assertMayReadPayload(ctx: GraphQLContext, task: Task, field: string): void {
  const { principal } = ctx;
  if (hasScope(principal, 'tasks:read') || (task.createdBy !== null && task.createdBy === principal.id)) return;
  // A read token reads its own tasks, whatever scopes it carries (the guard keeps it to them).
  if (principal.taskIds !== undefined && mayReadTask(principal, task.id)) return;
  throw new ForbiddenError(`Reading a task's ${field} needs the tasks:read scope (or having enqueued the task)`, {
    field,
    details: { requiredScope: 'tasks:read' },
  });
}
