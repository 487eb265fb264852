/**
 * What a worker's batched writes (taskwire_complete, taskwire_fail, taskwire_snooze) share: the
 * array of their steps' workflows, and the statuses they report back.
 */

/**
 * The workflows of a batch's steps as a uuid[] literal, for the function to lock before the steps
 * (./workflow-locks.ts): '{}' for a batch of plain tasks (nothing to lock, nothing read), null when
 * some item did not say (the function then reads the batch's rows for them). A worker knows each
 * task's workflow from its claim, and it never changes.
 */
export function workflowIdsOf(items: readonly { workflowId?: string | null }[]): string | null {
  if (!items.every((i) => i.workflowId !== undefined)) return null;
  return `{${[...new Set(items.flatMap((i) => (i.workflowId ? [i.workflowId] : [])))].join(',')}}`;
}

/**
 * A function's `recorded` answer, `id:STATUS` comma-joined (uuids hold neither character), as the
 * status each recorded task was left in, by id. Comma-joined rather than an array: a text[] parses
 * only once the pool has read the array types (src/db/client.ts).
 */
export function statusesOf<S extends string>(recorded: string | null | undefined): Map<string, S> {
  const statuses = new Map<string, S>();
  for (const entry of recorded ? recorded.split(',') : []) {
    const [id, status] = entry.split(':');
    if (id && status) statuses.set(id, status as S);
  }
  return statuses;
}
