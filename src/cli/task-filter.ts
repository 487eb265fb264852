import type { TaskFilter, TaskStatus } from '../client/index.js';
import { UsageError } from './args.js';

/** A UUID as the server reads one (any version; either case). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  // An empty value (a script's unset variable: --queue "$QUEUE") matched no task, or every one for
  // --status, and the command answered silence rather than what was wrong.
  for (const flag of ['status', 'queue', 'name', 'workflow'] as const) {
    if (values[flag] !== undefined && values[flag].trim() === '') throw new UsageError(command, `--${flag} is empty: give a value, or leave the option out`, `--${flag}`);
  }
  if (values.workflow !== undefined && !UUID.test(values.workflow.trim())) {
    throw new UsageError(command, `--workflow: "${values.workflow}" is not a workflow id (a UUID, as \`taskwire workflow\` prints it)`, '--workflow');
  }
  const statuses = values.status?.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  const unknown = statuses?.find((s) => !STATUSES.includes(s as TaskStatus));
  if (unknown !== undefined) throw new UsageError(command, `--status: unknown status "${unknown}"; use any of ${STATUSES.join(', ')}`, '--status');
  return {
    ...(statuses ? { status: statuses as TaskStatus[] } : {}),
    ...(values.queue === undefined ? {} : { queue: values.queue }),
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(values.workflow === undefined ? {} : { workflowId: values.workflow.trim() }),
  };
}
