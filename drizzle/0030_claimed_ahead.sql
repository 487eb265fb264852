-- Tasks claimed ahead of a free slot are given back whole when their worker dies before starting
-- them (src/queue/sql/rescue-tasks.ts; docs/decisions.md "Claiming ahead"). claimed_ahead_at: the
-- claim stamp of an attempt claimed ahead, NULL once a heartbeat says it started; ahead_give_backs:
-- how often the rescuer gave the task back so (once at most). Neither column rewrites the table (NULL,
-- and a constant default): the ACCESS EXCLUSIVE lock is held only for the catalog change.
ALTER TABLE "tasks" ADD COLUMN "claimed_ahead_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "ahead_give_backs" smallint DEFAULT 0 NOT NULL;
--> statement-breakpoint
-- taskwire_claim with a fourth argument, free_slots: how many of the tasks it claims its worker
-- starts at once. The tasks after the first free_slots in claim order wait for a slot: their
-- claimed_ahead_at is the claim's stamp (last_attempted_at). The boundary is one row, the last task
-- that starts (a top-N of the claim, read only when the claim reaches beyond its free slots), and
-- each row is compared with it once: no per-row lookup in a list. Otherwise as drizzle/0025 (why a
-- function and why its settings: drizzle/0018); src/queue/sql/claim-tasks.ts claimedAheadSql is the
-- same text for the statements there and in claim-limited-tasks.ts: change them together.
-- The three-argument function of drizzle/0025 stays, for workers of an older taskwire during a rolling
-- deploy: it does not write claimed_ahead_at, so its claims never match a stamp left before (they
-- count, as they always did).
CREATE OR REPLACE FUNCTION taskwire_claim(claimer text, lim int, lease_ms double precision, free_slots int) RETURNS SETOF tasks
LANGUAGE sql VOLATILE PARALLEL UNSAFE ROWS 10
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off SET enable_seqscan = off SET enable_sort = off
AS $$
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
  held AS (
    SELECT coalesce(array_agg(name), '{}') AS names FROM queues
    WHERE paused OR concurrency IS NOT NULL OR rate_max IS NOT NULL OR per_key_concurrency IS NOT NULL
  ),
  next AS (
    SELECT id, priority, run_after FROM tasks
    WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now()
      AND queue <> ALL ((SELECT names FROM held)::text[])
    ORDER BY priority DESC NULLS LAST, run_after, id
    LIMIT lim
    FOR UPDATE SKIP LOCKED
  ),
  last_free AS (
    SELECT -priority AS p, run_after, id FROM next
    ORDER BY priority DESC NULLS LAST, run_after, id OFFSET greatest(free_slots - 1, 0) LIMIT 1
  ),
  changed AS (
    UPDATE tasks t SET
      status = 'RUNNING',
      attempts = t.attempts + 1,
      version = t.version + 1,
      started_at = coalesce(t.started_at, (SELECT at FROM clock)),
      last_attempted_at = (SELECT at FROM clock),
      worker_ids = array_append(t.worker_ids, claimer),
      locked_by = claimer,
      lease_expires_at = now() + lease_ms * interval '1 millisecond',
      claimed_ahead_at = CASE WHEN free_slots >= lim THEN NULL
                              WHEN free_slots <= 0 THEN (SELECT at FROM clock)
                              WHEN (-t.priority, t.run_after, t.id) > (SELECT p, run_after, id FROM last_free)
                              THEN (SELECT at FROM clock) END
    -- By primary key whatever the planner estimates of next (a join to it could scan tasks).
    WHERE t.id = ANY(ARRAY(SELECT id FROM next))
    RETURNING t.*
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at)
    SELECT id, version, 'STARTED'::task_event_type, status, attempts, locked_by, NULL, NULL, last_attempted_at
    FROM changed
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading notified makes it run (a read-only CTE nothing reads is skipped); it is a one-time
  -- filter, evaluated before the rows are returned.
  SELECT changed.* FROM changed WHERE (SELECT count(*) FROM notified) >= 0
$$;
