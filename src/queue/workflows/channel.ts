import { WORKFLOW_STATUSES, type WorkflowStatus } from './types.js';

/**
 * Every change of a `workflows` row sends `id:version:status` on this channel in the same
 * statement (several joined by commas), so a subscriber reads the row once per change.
 */
export const WORKFLOWS_CHANNEL = 'taskwire_workflows';

export interface WorkflowChange {
  id: string;
  version: number;
  status: WorkflowStatus;
}

export function encodeWorkflowChanges(changes: readonly WorkflowChange[]): string {
  return changes.map((c) => `${c.id}:${c.version}:${c.status}`).join(',');
}

/** Parts that do not parse are skipped (a NOTIFY is a hint; the row is the truth). */
export function decodeWorkflowChanges(payload: string): WorkflowChange[] {
  const changes: WorkflowChange[] = [];
  for (const part of payload.split(',')) {
    const [id, version, status] = part.split(':');
    if (!id || !version || !(WORKFLOW_STATUSES as readonly string[]).includes(status ?? '')) continue;
    changes.push({ id, version: Number(version), status: status as WorkflowStatus });
  }
  return changes;
}
