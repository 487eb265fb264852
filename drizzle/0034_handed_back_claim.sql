-- taskwire_claim with a fifth argument, passed_over: ids of tasks the claiming worker handed back
-- because it has no handler for them (src/worker/passed-over.ts). It leaves them to the other workers:
-- taken again here, such a task went back and forth between the worker without its handler and the
-- queue, while a worker that has the handler waited for its poll (minutes, in a fleet that splits its
-- task names across workers on one queue). Otherwise as drizzle/0030 (why a function and why its
-- settings: drizzle/0018); change them together. A worker calls this form only while it has such ids;
-- every other claim is the four-argument form, unchanged, and the forms of drizzle/0025 and 0030 stay
-- for workers of an older taskwire during a rolling deploy.
CREATE OR REPLACE FUNCTION taskwire_claim(claimer text, lim int, lease_ms double precision, free_slots int, passed_over uuid[]) RETURNS SETOF tasks
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
      -- A hashed subplan: one probe per row walked, whatever the size of the list.
      AND id NOT IN (SELECT unnest(passed_over))
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
