-- A worker's batch of successes as one function (issue 17): taskwire_complete(completer, task_ids,
-- results, default_ttl_ms) marks SUCCEEDED the tasks of task_ids still RUNNING under completer's
-- lock in the attempt that produced their result, logs their SUCCEEDED events, announces them on
-- taskwire_events and returns the ids it recorded (comma-joined) and how many NOTIFYs it sent: the
-- statement src/queue/sql/complete-tasks.ts sent, unchanged in effect. `results` is one jsonb
-- object keyed by `id:attempt` (the key carries the attempt guard; a late result of an older
-- attempt finds no key), each value the attempt's return value (JSON null: none).
-- Why a function: the pool asks for custom plans (plan_cache_mode = force_custom_plan,
-- src/db/client.ts), so that statement was planned on every completion (~0.8 ms per statement,
-- 4-5 us per task in a drain, bench/tools/drain-cost.ts). Here the caller's statement is a function
-- scan and the body keeps one generic plan per session (PostgreSQL 18 caches SQL functions'
-- plans; the SET applies to this function only; before 18 it is planned per call, as the statement
-- was). A generic plan does not know how many ids come (it guesses 10), and the update must find its
-- rows by tasks_pkey for a batch of 1 or of 500, with or without statistics: on a table never
-- analyzed the generic plan scanned tasks_running_queue_key_idx whole (partial on status =
-- 'RUNNING', every running task of every worker) and filtered the ids. So the status is compared
-- as text, which no partial index's predicate matches, and bitmap and sequential scans are off
-- for the body: tasks_pkey is the only way left (test/queue/complete-function.test.ts).
-- The event tail (logged, notified) is eventCtesSql's (src/queue/events.ts): change both together
-- (test/queue/complete-function.test.ts compares the function's rows, events and payloads with the statement's).
CREATE OR REPLACE FUNCTION taskwire_complete(
  completer text, task_ids uuid[], results jsonb, default_ttl_ms bigint,
  OUT recorded text, OUT notifications bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off SET enable_seqscan = off
AS $$
  WITH changed AS (
    UPDATE tasks t SET
      status = 'SUCCEEDED',
      return_value = nullif(results -> (t.id::text || ':' || t.attempts), 'null'::jsonb),
      version = t.version + 1,
      finished_at = clock_timestamp(),
      locked_by = NULL,
      lease_expires_at = NULL,
      expires_at = clock_timestamp() + coalesce(t.result_ttl_ms, default_ttl_ms) * interval '1 millisecond'
    WHERE t.id = ANY(task_ids) AND t.status::text = 'RUNNING' AND t.locked_by = completer
      AND results ? (t.id::text || ':' || t.attempts)
    -- Only what the events need: reading back every result would cost a parse per task for nothing.
    RETURNING t.id, t.version, t.status, t.attempts
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error)
    SELECT id, version, 'SUCCEEDED'::task_event_type, status, attempts, completer, NULL, NULL
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
