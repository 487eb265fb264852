import { hasScope } from '../auth/scopes.js';
import { ForbiddenError } from '../errors.js';
import type { Task } from '../queue/task.js';
import type { GraphQLContext } from './context.js';

/**
 * An enqueue whose idempotency key is taken answers with what is stored under it: the task (or
 * the workflow's tasks) with its args, result and a read token. Handing over another principal's
 * task is reading it, which needs `tasks:read`; a credential that may only enqueue (e.g.
 * `tasks:enqueue:demo.*`) gets FORBIDDEN instead, naming the key, not the task. What it enqueued
 * itself it gets back as always.
 *
 * @param createdBy the stored tasks' `createdBy` (a new task's is this principal's id), asked for only
 *   when it decides
 */
export async function assertMayReplay(
  ctx: GraphQLContext,
  key: string | null | undefined,
  createdBy: () => readonly (string | null)[] | Promise<readonly (string | null)[]>,
): Promise<void> {
  const { principal } = ctx;
  if (key == null || hasScope(principal, 'tasks:read') || (await createdBy()).every((by) => by === principal.id)) return;
  throw replayRefused(key, 'input.idempotencyKey');
}

/**
 * enqueueTasks' form of assertMayReplay, for the core's `checkExisting` (called inside the
 * batch's transaction, so that the refusal stores none of it): undefined when the principal
 * may read whatever a key hands back.
 */
export function replayCheck(ctx: GraphQLContext, fieldPrefix: string): ((task: Task, index: number) => void) | undefined {
  const { principal } = ctx;
  if (hasScope(principal, 'tasks:read')) return undefined;
  return (task, i) => {
    if (task.createdBy !== principal.id) throw replayRefused(task.idempotencyKey ?? '', `${fieldPrefix}[${i}].idempotencyKey`);
  };
}

function replayRefused(key: string, field: string): ForbiddenError {
  return new ForbiddenError(`idempotencyKey ${JSON.stringify(key)} belongs to what another credential enqueued; answering with it needs tasks:read`, {
    field,
  });
}
