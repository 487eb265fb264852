-- A worker's snoozes in batches, as one function (issue 17), as drizzle/0036 did for failures:
-- taskwire_snooze(snoozer, task_ids, delays, default_ttl_ms, workflow_ids) does, for each task of
-- task_ids still RUNNING under snoozer's lock in the attempt that asked, what the one-task statement
-- of src/queue/sql/snooze-task.ts does (`snoozeTask`, kept for hand-backs, which also wake the
-- queue): the task waits again (PENDING when no attempt is left on record, else RETRYING) with
-- run_after = the statement's clock + its delay, its attempt not held against it (attempts back down,
-- the attempt's worker id dropped, the first attempt's stamps cleared), and a SNOOZED event naming the
-- attempt and snoozer; a task whose cancellation was requested ends CANCELLED instead. Returns
-- `id:STATUS` of each task it recorded (comma-joined) and how many NOTIFYs it sent. `delays` is one
-- jsonb object keyed by `id:attempt` (the attempt guard), each value `[delay_ms, run]`. `run` is the
-- version the claim gave the task (its STARTED event's): the snooze applies only while no STARTED came
-- after it. A snooze gives its attempt number back, so once a try had committed (its answer lost with
-- the connection) and the same worker claimed the task again, the attempt guard alone matched the new
-- run and the retry snoozed it mid-run (found by an SRE tester: 10 of 10 tasks run three times instead
-- of twice); a try given up for its answer may also reach the database late. NULL: the attempt guard
-- alone. The check reads the run's events from its STARTED on (task_events_pkey): one or two rows for a
-- run that wrote no output.
-- Why: a handler that snoozes (ctx.retryAfter on a rate-limited API: every attempt at once) cost a
-- statement of its own, planned afresh: ~400 tasks/s where each task snoozed once
-- (bench/tools/drain-cost.ts with DRAIN_SNOOZE=1), PostgreSQL ~1,070 us of CPU per task.
-- The steps' workflows are locked first (drizzle/0033): a snooze that ends a step CANCELLED fires the
-- steps trigger, which locks the workflow, and must not wait for it holding the step's row.
-- Settings as drizzle/0020 (the update walks tasks_pkey for 1 or 500 ids, with or without statistics).
-- CREATE FUNCTION takes no lock on tasks.
CREATE OR REPLACE FUNCTION taskwire_snooze(
  snoozer text, task_ids uuid[], delays jsonb, default_ttl_ms bigint, workflow_ids uuid[],
  OUT recorded text, OUT notifications bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off SET enable_seqscan = off
AS $$
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
  wf_locked AS MATERIALIZED (
    SELECT id FROM workflows
    WHERE id = ANY(coalesce(workflow_ids,
                            ARRAY(SELECT workflow_id FROM tasks WHERE id = ANY(task_ids) AND workflow_id IS NOT NULL)))
    ORDER BY id FOR UPDATE
  ),
  changed AS (
    UPDATE tasks t SET
      status = (CASE WHEN t.cancel_requested THEN 'CANCELLED'
                     WHEN t.attempts <= 1 THEN 'PENDING' ELSE 'RETRYING' END)::task_status,
      attempts = CASE WHEN t.cancel_requested THEN t.attempts ELSE t.attempts - 1 END,
      worker_ids = CASE WHEN t.cancel_requested THEN t.worker_ids
                        ELSE t.worker_ids[1:cardinality(t.worker_ids) - 1] END,
      started_at = CASE WHEN NOT t.cancel_requested AND t.attempts <= 1 THEN NULL ELSE t.started_at END,
      last_attempted_at = CASE WHEN NOT t.cancel_requested AND t.attempts <= 1 THEN NULL ELSE t.last_attempted_at END,
      run_after = CASE WHEN t.cancel_requested THEN t.run_after
                       ELSE (SELECT at FROM clock) + (delays -> (t.id::text || ':' || t.attempts) ->> 0)::float8 * interval '1 millisecond' END,
      finished_at = CASE WHEN t.cancel_requested THEN (SELECT at FROM clock) END,
      expires_at = CASE WHEN t.cancel_requested
                   THEN (SELECT at FROM clock) + coalesce(t.result_ttl_ms, default_ttl_ms) * interval '1 millisecond' END,
      version = t.version + 1,
      locked_by = NULL,
      lease_expires_at = NULL
    WHERE t.id = ANY(task_ids) AND t.status::text = 'RUNNING' AND t.locked_by = snoozer
      AND delays ? (t.id::text || ':' || t.attempts)
      -- Still the run that asked (task_events_pkey, from the run's STARTED on).
      AND (jsonb_typeof(delays -> (t.id::text || ':' || t.attempts) -> 1) IS DISTINCT FROM 'number'
           OR NOT EXISTS (SELECT 1 FROM task_events e
                          WHERE e.task_id = t.id AND e.version > (delays -> (t.id::text || ':' || t.attempts) ->> 1)::int
                            AND e.type = 'STARTED'))
      -- The workflows first (a one-time filter, before the first row is locked).
      AND (SELECT count(*) FROM wf_locked) >= 0
    RETURNING t.id, t.version, t.status, t.attempts
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at)
    SELECT id, version,
           (CASE WHEN status = 'CANCELLED' THEN 'CANCELLED' ELSE 'SNOOZED' END)::task_event_type,
           status, CASE WHEN status = 'CANCELLED' THEN attempts ELSE attempts + 1 END, snoozer, NULL, NULL, (SELECT at FROM clock)
    FROM changed
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading notified makes it run (a read-only CTE nothing reads is skipped).
  SELECT string_agg(id::text || ':' || status, ','), (SELECT count(*) FROM notified) FROM changed
$$;
