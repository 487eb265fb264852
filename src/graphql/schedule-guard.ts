import type { Principal } from '../auth/principal.js';
import { mayEnqueue } from '../auth/scopes.js';
import { ForbiddenError } from '../errors.js';

/**
 * A schedule enqueues its task on every occurrence, so writing one is enqueueing: besides
 * `schedules:write` (the guard's rule), the task name must match `tasks:enqueue` or one of the
 * principal's `tasks:enqueue:<glob>`, as enqueueTask's name does.
 * @throws ForbiddenError naming `field`
 */
export function assertMayEnqueue(principal: Principal, name: string, field: string): void {
  if (mayEnqueue(principal, name)) return;
  throw new ForbiddenError(`This credential may not schedule "${name}": no tasks:enqueue scope matches the name`, {
    field,
    details: { requiredScope: `tasks:enqueue:${name}` },
  });
}

/** upsertSchedule's check (GUARD_RULES): `input.task.name` against the enqueue globs. */
export function scheduleTaskName(principal: Principal, args: Readonly<Record<string, unknown>>): void {
  const task = (args.input as { task?: { name?: unknown } } | undefined)?.task;
  assertMayEnqueue(principal, typeof task?.name === 'string' ? task.name : '', 'input.task.name');
}
