import { BadUserInputError } from '../errors.js';
import { isUuid } from '../queue/uuid.js';
import type { Workflow } from '../queue/workflows/types.js';

/**
 * Live workflow changes, as the `workflowChanged` resolver needs them. The server implements it
 * (src/server/live/workflow-hub.ts) over one LISTEN per process and gives each operation the
 * hub as its caller's tenant sees it: another tenant's workflow is then exactly an unknown one.
 */
export interface WorkflowEvents {
  /**
   * The workflow's current state, then each newer version (none twice, in order) until it is
   * finished (SUCCEEDED, FAILED or CANCELLED); then the stream ends.
   * @throws BadUserInputError for a malformed id, NotFoundError for an unknown one (or another tenant's).
   */
  watchWorkflow(id: string): Promise<AsyncIterableIterator<Workflow>>;
}

/**
 * A workflow id is a UUID, like a task's.
 * @throws BadUserInputError naming `field` otherwise
 */
export function assertWorkflowId(id: string, field = 'id'): void {
  if (!isUuid(id)) throw new BadUserInputError(`${field} must be a workflow id (a UUID), got ${JSON.stringify(id)}`, { field });
}
