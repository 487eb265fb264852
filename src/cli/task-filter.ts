import type { TaskFilter, TaskStatus } from '../client/index.js';
import { UsageError } from './args.js';

const STATUSES: readonly TaskStatus[] = ['BLOCKED', 'PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

/** The flags that pick tasks, for the commands that list or follow them (`tasks`, `feed`). */
export const TASK_FILTER_OPTIONS = {
  status: { type: 'string' },
  queue: { type: 'string' },
  name: { type: 'string' },
  workflow: { type: 'string' },
} as const;

/** The filter those flags ask for; an unknown status is a usage error naming `--status`. */
export function taskFilterOf(command: string, values: { status?: string | undefined; queue?: string | undefined; name?: string | undefined; workflow?: string | undefined }): TaskFilter {
  const statuses = values.status?.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  const unknown = statuses?.find((s) => !STATUSES.includes(s as TaskStatus));
  if (unknown !== undefined) throw new UsageError(command, `--status: unknown status "${unknown}"; use any of ${STATUSES.join(', ')}`, '--status');
  return {
    ...(statuses ? { status: statuses as TaskStatus[] } : {}),
    ...(values.queue === undefined ? {} : { queue: values.queue }),
    ...(values.name === undefined ? {} : { name: values.name }),
    // Checked by the server (a workflow id is a UUID: BAD_USER_INPUT naming filter.workflowId).
    ...(values.workflow === undefined ? {} : { workflowId: values.workflow }),
  };
}
