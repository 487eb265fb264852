import type { Executor } from '../../db/client.js';

export interface LeaseState {
  id: string;
  /** The task's current attempt: a worker running an older one of it runs a stale attempt. */
  attempts: number;
  cancelRequested: boolean;
}

/**
 * Heartbeat: pushes the leases of a worker's running tasks forward. Not a visible change,
 * so no version bump and no event. Tasks missing from the answer are no longer this
 * worker's (rescued, or gone); `cancelRequested` is the fallback path for cancellation
 * when the wake-up notification was missed.
 */
export async function extendLeases(
  exec: Executor,
  p: { workerId: string; ids: readonly string[]; leaseMs: number },
): Promise<LeaseState[]> {
  if (p.ids.length === 0) return [];
  const result = await exec`
    UPDATE tasks SET lease_expires_at = now() + ${p.leaseMs} * interval '1 millisecond'
    WHERE id = ANY(${p.ids as string[]}::uuid[]) AND status = 'RUNNING' AND locked_by = ${p.workerId}
    RETURNING id, attempts, cancel_requested`;
  return result.map((r) => ({ id: String(r.id), attempts: Number(r.attempts), cancelRequested: Boolean(r.cancelRequested) }));
}

/**
 * Whether task `id`'s cancellation was asked for, read before a worker acts on a `cancel:<id>`
 * notification: anyone allowed to NOTIFY on the database can send one, and only requestCancel's
 * statement sets the flag (in the same transaction as its notification, so it is visible here).
 * Reads one row by tasks_pkey.
 */
export async function isCancelRequested(exec: Executor, id: string): Promise<boolean> {
  const [row] = await exec`SELECT cancel_requested FROM tasks WHERE id = ${id}`;
  return Boolean(row?.cancelRequested);
}
