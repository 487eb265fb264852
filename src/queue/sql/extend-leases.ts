import type { Executor } from '../../db/client.js';

export interface LeaseState {
  id: string;
  /** The task's current attempt: a worker running an older one of it runs a stale attempt. */
  attempts: number;
  /**
   * When the current attempt was claimed: the attempt number alone repeats after a rescue gave a
   * task claimed ahead back (attempts − 1) and the same worker claimed it again.
   */
  lastAttemptedAt: Date | null;
  cancelRequested: boolean;
}

/**
 * Heartbeat: pushes the leases of a worker's tasks forward. Not a visible change, so no version
 * bump and no event. Tasks missing from the answer are no longer this worker's (rescued, or
 * gone); `cancelRequested` is the fallback path for cancellation when the wake-up notification
 * was missed. `started`: tasks whose attempt the worker has started (running, or done and being
 * recorded); their mark of a task claimed ahead is cleared (`claimed_ahead_at`), so from now on a
 * lost worker's attempt of them counts. `ids`: tasks still waiting for a slot, their mark kept. No
 * id in both lists (a row updated twice in one statement keeps one of the two: HeldTasks.leaseIds
 * lists a task that waits, and has an older attempt running, as waiting only). Two updates in one
 * statement, each by tasks_pkey: the rows it wrote anyway, no per-row lookup in a list.
 * The rows of both lists are locked first, in id order (`locked`, read by both updates before
 * they write): each update alone would lock its own list's rows, one list after the other (and in
 * the table's order with a bitmap scan), and a statement locking the same tasks in id order (a bulk
 * cancel, docs/decisions.md "One lock order for task rows") deadlocked with it.
 */
export async function extendLeases(
  exec: Executor,
  p: { workerId: string; ids: readonly string[]; started?: readonly string[]; leaseMs: number },
): Promise<LeaseState[]> {
  const started = p.started ?? [];
  if (p.ids.length === 0 && started.length === 0) return [];
  // `locked` is an InitPlan of each update (a one-time filter): it has locked every row before either
  // update reads its first one.
  const result = await exec`
    WITH locked AS (
      SELECT id FROM tasks
      WHERE id = ANY(${[...p.ids, ...started] as string[]}::uuid[]) AND status = 'RUNNING' AND locked_by = ${p.workerId}
      ORDER BY id FOR NO KEY UPDATE
    ),
    waiting AS (
      UPDATE tasks SET lease_expires_at = now() + ${p.leaseMs} * interval '1 millisecond'
      WHERE id = ANY(${p.ids as string[]}::uuid[]) AND status = 'RUNNING' AND locked_by = ${p.workerId}
        AND (SELECT count(*) FROM locked) >= 0
      RETURNING id, attempts, last_attempted_at, cancel_requested
    ),
    begun AS (
      UPDATE tasks SET lease_expires_at = now() + ${p.leaseMs} * interval '1 millisecond', claimed_ahead_at = NULL
      WHERE id = ANY(${started as string[]}::uuid[]) AND status = 'RUNNING' AND locked_by = ${p.workerId}
        AND (SELECT count(*) FROM locked) >= 0
      RETURNING id, attempts, last_attempted_at, cancel_requested
    )
    SELECT * FROM waiting UNION ALL SELECT * FROM begun`;
  return result.map((r) => ({
    id: String(r.id),
    attempts: Number(r.attempts),
    lastAttemptedAt: r.lastAttemptedAt ? new Date(r.lastAttemptedAt as string | Date) : null,
    cancelRequested: Boolean(r.cancelRequested),
  }));
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
