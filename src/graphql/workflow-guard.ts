import type { Principal } from '../auth/principal.js';
import { mayEnqueue } from '../auth/scopes.js';
import { ForbiddenError } from '../errors.js';

/**
 * enqueueWorkflow's check (GUARD_RULES): every step's task name must match `tasks:enqueue` or one
 * of the principal's `tasks:enqueue:<glob>`, as enqueueTask's name does; the first that does not
 * is FORBIDDEN naming its field (`input.steps[2].task.name`), and nothing is stored.
 */
export function enqueueStepNames(principal: Principal, args: Readonly<Record<string, unknown>>): void {
  const steps = (args.input as { steps?: unknown } | undefined)?.steps;
  if (!Array.isArray(steps)) return;
  steps.forEach((step: { ref?: unknown; task?: { name?: unknown } } | null, i) => {
    const name = typeof step?.task?.name === 'string' ? step.task.name : '';
    if (mayEnqueue(principal, name)) return;
    const ref = typeof step?.ref === 'string' ? ` (step "${step.ref}")` : '';
    throw new ForbiddenError(`This credential may not enqueue "${name}"${ref}: no tasks:enqueue scope matches the name`, {
      field: `input.steps[${i}].task.name`,
      details: { requiredScope: `tasks:enqueue:${name}` },
    });
  });
}
