-- One clock reading per change (src/queue/sql/clock.ts): taskwire_complete stamped finished_at and
-- expires_at, and taskwire_claim started_at and last_attempted_at, from two clock_timestamp() calls,
-- and the event log's `at` was a third. So `expiresAt - finishedAt` came out as the TTL +- 1 ms about
-- 1 time in 17,000, and a first attempt's startedAt and lastAttemptedAt differed likewise. Each
-- function now reads the clock once (a materialized CTE is evaluated once) and logs its event at the
-- stamp it wrote. Unchanged otherwise: drizzle/0018 and drizzle/0020 say why each is a function and
-- why its settings; test/queue/clock-reading.test.ts checks the stamps to the microsecond.
CREATE OR REPLACE FUNCTION taskwire_claim(claimer text, lim int, lease_ms double precision) RETURNS SETOF tasks
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
    SELECT id FROM tasks
    WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now()
      AND queue <> ALL ((SELECT names FROM held)::text[])
    ORDER BY priority DESC NULLS LAST, run_after, id
    LIMIT lim
    FOR UPDATE SKIP LOCKED
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
      lease_expires_at = now() + lease_ms * interval '1 millisecond'
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
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_complete(
  completer text, task_ids uuid[], results jsonb, default_ttl_ms bigint,
  OUT recorded text, OUT notifications bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off SET enable_seqscan = off
AS $$
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
  changed AS (
    UPDATE tasks t SET
      status = 'SUCCEEDED',
      return_value = nullif(results -> (t.id::text || ':' || t.attempts), 'null'::jsonb),
      version = t.version + 1,
      finished_at = (SELECT at FROM clock),
      locked_by = NULL,
      lease_expires_at = NULL,
      expires_at = (SELECT at FROM clock) + coalesce(t.result_ttl_ms, default_ttl_ms) * interval '1 millisecond'
    WHERE t.id = ANY(task_ids) AND t.status::text = 'RUNNING' AND t.locked_by = completer
      AND results ? (t.id::text || ':' || t.attempts)
    -- Only what the events need: reading back every result would cost a parse per task for nothing.
    RETURNING t.id, t.version, t.status, t.attempts, t.finished_at
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at)
    SELECT id, version, 'SUCCEEDED'::task_event_type, status, attempts, completer, NULL, NULL, finished_at
    FROM changed
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading notified makes it run (a read-only CTE nothing reads is skipped).
  SELECT string_agg(id::text, ','), (SELECT count(*) FROM notified) FROM changed
$$;
