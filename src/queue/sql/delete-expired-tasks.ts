import type { Executor } from '../../db/client.js';

/**
 * Gives up to `limit` finished tasks that have no `expires_at` their expiry: `finished_at` + the
 * task's TTL, else `defaultTtlMs` (the process's RESULT_TTL_MS), the stamp every other end writes.
 * Such rows are workflow steps cancelled by the release trigger (taskwire_workflow_steps_changed,
 * drizzle/0015: the CANCEL-policy descendants of a failed step, the children released into a
 * cancelled workflow), which cannot know RESULT_TTL_MS, and those an older taskwire left so; without
 * an expiry deleteExpiredTasks would keep them, and their workflow, for good.
 * Found through tasks_finished_without_expiry_idx (drizzle/0028), whose predicate no task in flight
 * and no task ended by any other path matches: claims, completions and enqueues write no entry,
 * and this empties it. Not a visible change (no version, no event), like a lease renewal.
 * With `lockKey`, as deleteExpiredTasks. Returns how many.
 */
export async function stampMissingExpiry(exec: Executor, p: { defaultTtlMs: number; limit: number; lockKey?: number | null }): Promise<number> {
  const lockKey = p.lockKey ?? null;
  const result = await exec`
    WITH lock AS (
      SELECT CASE WHEN ${lockKey}::bigint IS NULL THEN true ELSE pg_try_advisory_xact_lock(${lockKey}::bigint) END AS held
    ),
    stamped AS (
      UPDATE tasks t SET expires_at = t.finished_at + coalesce(t.result_ttl_ms, ${p.defaultTtlMs}::bigint) * interval '1 millisecond'
      WHERE t.id IN (
        SELECT id FROM tasks
        WHERE (SELECT held FROM lock) AND finished_at IS NOT NULL AND expires_at IS NULL
        ORDER BY finished_at
        LIMIT ${p.limit}
        FOR UPDATE SKIP LOCKED
      )
        -- Still so once locked (a retry may have brought it back meanwhile).
        AND t.finished_at IS NOT NULL AND t.expires_at IS NULL
      RETURNING t.id
    )
    SELECT count(*)::int AS count FROM stamped`;
  return Number(result[0]?.count ?? 0);
}

/** What one batch of deleteExpiredTasks did. */
export interface ExpiredBatch {
  /** Tasks deleted. */
  count: number;
  /** The latest `expires_at` among them (PostgreSQL's text, exact), for the next batch's `from`; null when none. */
  last: string | null;
}

/**
 * Deletes up to `limit` finished tasks whose retention ran out (tasks_expires_idx), and their events;
 * a workflow's steps only once it ended, and the workflow with its last step.
 * Batched so a large backlog never holds locks on many rows at once. With `lockKey`, only if
 * this statement gets that advisory lock (transaction-scoped: released at its commit), so the
 * same statement of another process meanwhile deletes nothing.
 * `from`: the previous batch's `last`. The index scan then starts there, not at the entries of the
 * rows earlier batches deleted (dead until a vacuum), which each batch walked again: through a
 * backlog of 60,000, a batch's time to its first row grew from 5 to 40-86 ms (DBA audit), and
 * through a larger one it grew without bound. A row behind it (skipped while locked, a step of a
 * workflow still running) waits for the next round, which starts without `from`.
 */
export async function deleteExpiredTasks(exec: Executor, p: { now: Date | null; limit: number; lockKey?: number | null; from?: string | null }): Promise<ExpiredBatch> {
  const now = p.now?.toISOString() ?? null;
  const lockKey = p.lockKey ?? null;
  const from = p.from ?? null;
  const result = await exec`
    WITH lock AS (
      SELECT CASE WHEN ${lockKey}::bigint IS NULL THEN true ELSE pg_try_advisory_xact_lock(${lockKey}::bigint) END AS held
    ),
    candidates AS (
      SELECT id, workflow_id FROM tasks
      WHERE (SELECT held FROM lock)
        AND expires_at <= coalesce(${now}::timestamptz, now())
        -- A bound of the index scan (an OR with "no bound" would be a filter after it).
        AND expires_at >= coalesce(${from}::timestamptz, '-infinity')
        -- A workflow's steps stay while it runs: a BLOCKED step may still need a parent's result
        -- (src/queue/workflows). Looked up only for steps (workflows' primary key).
        AND (workflow_id IS NULL OR NOT EXISTS (SELECT 1 FROM workflows w WHERE w.id = tasks.workflow_id AND w.status = 'RUNNING'))
      ORDER BY expires_at
      LIMIT ${p.limit}
      FOR UPDATE SKIP LOCKED
    ),
    -- The steps' workflows, which the last step takes with it (workflows_gone): locked SKIP LOCKED,
    -- since this statement holds the steps already and must not wait for a workflow row
    -- (src/queue/sql/workflow-locks.ts: a retry of a step locks its workflow, then the step). A
    -- step whose workflow another transaction holds, or that runs again, waits for the next round.
    workflows_held AS MATERIALIZED (
      SELECT id FROM workflows WHERE id = ANY(ARRAY(SELECT workflow_id FROM candidates WHERE workflow_id IS NOT NULL))
        AND status <> 'RUNNING'
      FOR UPDATE SKIP LOCKED
    ),
    deleted AS (
      -- By tasks_pkey, an array: a join with the CTE was planned as a hash join over a scan of tasks.
      DELETE FROM tasks WHERE id = ANY(ARRAY(
        SELECT id FROM candidates WHERE workflow_id IS NULL OR workflow_id IN (SELECT id FROM workflows_held)
      ))
      RETURNING id, workflow_id, expires_at
    ),
    -- A task's events live and die with it (task_events_pkey leads with task_id).
    events AS (DELETE FROM task_events WHERE task_id IN (SELECT id FROM deleted)),
    -- An ended workflow goes with its last step (tasks_workflow_idx; the snapshot still holds the
    -- rows deleted above, hence their exclusion).
    workflows_gone AS (
      DELETE FROM workflows w
      WHERE w.id IN (SELECT workflow_id FROM deleted WHERE workflow_id IS NOT NULL) AND w.status <> 'RUNNING'
        AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.workflow_id = w.id AND t.id NOT IN (SELECT id FROM deleted))
    )
    SELECT count(*)::int AS count, max(expires_at)::text AS last FROM deleted`;
  return { count: Number(result[0]?.count ?? 0), last: (result[0]?.last as string | null | undefined) ?? null };
}
