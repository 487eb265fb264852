-- An idle worker's claim as one function (issue 17): taskwire_claim(claimer, lim, lease_ms) picks
-- up to `lim` waiting tasks of every queue that is neither paused nor limited, in claim order, and
-- marks them RUNNING, logs their STARTED events and announces them on taskwire_events: the
-- statement src/queue/sql/claim-tasks.ts sent for a worker of every queue, unchanged in effect.
-- Why a function: the pool asks for custom plans (plan_cache_mode = force_custom_plan,
-- src/db/client.ts), so that statement was planned on every claim (~0.4 ms at 100,000 pending,
-- as much as running it; its pick, taskwire_claim_order, another 0.15 ms). Here the caller's
-- statement is a function scan (nothing to plan) and the body keeps one generic plan per session
-- (PostgreSQL 18 caches SQL functions' plans; the SET applies to this function only).
-- A generic plan does not know `lim`, and on a table never analyzed the planner guesses ~90
-- waiting tasks: bitmap scans, sequential scans and sorts are off for the body, as in
-- taskwire_claim_order (drizzle/0016), so the pick walks tasks_claim_idx (priority DESC NULLS
-- LAST, run_after, id WHERE status IN PENDING/RETRYING) in order and stops at the limit, with or
-- without statistics; the update finds its rows by tasks_pkey. Workers of some queues only, and
-- claims while a queue is held, keep their statements in claim-tasks.ts (their plans depend on
-- which queues). The event tail (logged, notified) is changeTailSql's (src/queue/events.ts):
-- change both together (test/queue/claim-function.test.ts compares their events and payloads).
CREATE OR REPLACE FUNCTION taskwire_claim(claimer text, lim int, lease_ms double precision) RETURNS SETOF tasks
LANGUAGE sql VOLATILE PARALLEL UNSAFE ROWS 10
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off SET enable_seqscan = off SET enable_sort = off
AS $$
  WITH held AS (
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
      started_at = coalesce(t.started_at, clock_timestamp()),
      last_attempted_at = clock_timestamp(),
      worker_ids = array_append(t.worker_ids, claimer),
      locked_by = claimer,
      lease_expires_at = now() + lease_ms * interval '1 millisecond'
    -- By primary key whatever the planner estimates of next (a join to it could scan tasks).
    WHERE t.id = ANY(ARRAY(SELECT id FROM next))
    RETURNING t.*
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error)
    SELECT id, version, 'STARTED'::task_event_type, status, attempts, locked_by, NULL, NULL
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
