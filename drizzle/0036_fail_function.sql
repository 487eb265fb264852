-- A worker's failed attempts in batches, as one function (issue 17): taskwire_fail(failer, task_ids,
-- failures, default_ttl_ms, workflow_ids) records, for each task of task_ids still RUNNING under
-- failer's lock in the attempt that failed, what the one-task statement it replaces did (kept in
-- test/queue/fail-function.test.ts): RETRYING (due again after its delay) while attempts are left and a retry was asked,
-- else FAILED; CANCELLED whatever is left once a cancellation was requested (the error kept). The
-- attempt's error is appended to `errors`, its event logged (RETRY_SCHEDULED, FAILED or CANCELLED,
-- with the error) at the statement's one clock reading, the changes announced on taskwire_events.
-- Returns `id:STATUS` of each task it recorded (comma-joined) and how many NOTIFYs it sent.
-- `failures` is one jsonb object keyed by `id:attempt` (the key carries the attempt guard, as
-- taskwire_complete's results do), each value `[error, retry_delay_ms]`: the error object as stored,
-- and the delay in ms, or JSON null for no retry whatever attempts are left.
-- Why: failures were written one statement per attempt, each planned afresh under the pool's
-- force_custom_plan (~0.4 ms of planning, ~0.6 ms of running, and a commit each): a worker whose
-- every attempt failed recorded ~1,100 a second where it records ~15,000 successes
-- (bench/tools/drain-cost.ts with DRAIN_FAIL=1), so an outage downstream of the handlers (every
-- attempt failing at once) slowed the worker to a crawl just when its retries pile up. Batched as
-- successes are (src/worker/outcome-store.ts), with a plan cached per session like
-- taskwire_complete's; drizzle/0020 says why the settings (the status compared as text, bitmap and
-- sequential scans off: the update walks tasks_pkey for 1 or 500 ids, with or without statistics)
-- and drizzle/0033 why the workflows are locked first (NULL workflow_ids: read from the batch's rows).
-- The same expression says whether a row retries in each column it sets (SET sees the old row).
-- CREATE FUNCTION takes no lock on tasks.
CREATE OR REPLACE FUNCTION taskwire_fail(
  failer text, task_ids uuid[], failures jsonb, default_ttl_ms bigint, workflow_ids uuid[],
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
      status = (CASE
        WHEN t.cancel_requested THEN 'CANCELLED'
        WHEN t.attempts < t.max_attempts AND jsonb_typeof(failures -> (t.id::text || ':' || t.attempts) -> 1) = 'number' THEN 'RETRYING'
        ELSE 'FAILED' END)::task_status,
      errors = t.errors || jsonb_build_array(failures -> (t.id::text || ':' || t.attempts) -> 0),
      version = t.version + 1,
      run_after = CASE
        WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts AND jsonb_typeof(failures -> (t.id::text || ':' || t.attempts) -> 1) = 'number'
        THEN (SELECT at FROM clock) + (failures -> (t.id::text || ':' || t.attempts) ->> 1)::float8 * interval '1 millisecond'
        ELSE t.run_after END,
      finished_at = CASE
        WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts AND jsonb_typeof(failures -> (t.id::text || ':' || t.attempts) -> 1) = 'number'
        THEN NULL ELSE (SELECT at FROM clock) END,
      expires_at = CASE
        WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts AND jsonb_typeof(failures -> (t.id::text || ':' || t.attempts) -> 1) = 'number'
        THEN NULL ELSE (SELECT at FROM clock) + coalesce(t.result_ttl_ms, default_ttl_ms) * interval '1 millisecond' END,
      locked_by = NULL,
      lease_expires_at = NULL
    WHERE t.id = ANY(task_ids) AND t.status::text = 'RUNNING' AND t.locked_by = failer
      AND failures ? (t.id::text || ':' || t.attempts)
      -- The workflows first (a one-time filter, before the first row is locked).
      AND (SELECT count(*) FROM wf_locked) >= 0
    RETURNING t.id, t.version, t.status, t.attempts, t.worker_ids[cardinality(t.worker_ids)] AS worker, t.errors -> -1 AS error
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at)
    SELECT id, version,
           (CASE status WHEN 'RETRYING' THEN 'RETRY_SCHEDULED' WHEN 'FAILED' THEN 'FAILED' ELSE 'CANCELLED' END)::task_event_type,
           status, attempts, worker, NULL, error, (SELECT at FROM clock)
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
