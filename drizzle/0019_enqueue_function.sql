-- An enqueue without idempotency keys as one function (issue 17): taskwire_enqueue inserts the
-- tasks given by column, logs their ENQUEUED events, announces them on taskwire_events, wakes each
-- queue once on taskwire_jobs and returns the transaction's now(), how many rows it inserted and
-- how many NOTIFYs it sent: the statement src/queue/sql/insert-tasks.ts sends for rows with keys,
-- without its ON CONFLICT, unchanged in effect. Parameters as encodeColumns makes them: the ids as
-- one uuid[]; each other column as `<col>_all`, its value when every row has the same one (else
-- NULL), and `<col>_each`, a JSON array with every row's value read by row number (else NULL).
-- Why a function: the pool asks for custom plans (plan_cache_mode = force_custom_plan,
-- src/db/client.ts), so that statement was planned on every enqueue (~0.18 ms per single enqueue,
-- twice what it took to run, bench/tools/enqueue-plan.ts). Here the caller's statement is a
-- function scan and the body keeps one generic plan per session (PostgreSQL 18 caches SQL
-- functions' plans; the SET applies to this function only; before 18 it is planned per call, as
-- the statement was). There is nothing for the plan to choose: the rows come from the arrays,
-- the per-row reads of a NULL `_each` cost next to nothing. The columns arrive typed (jsonb,
-- int …): cast once by the call, not once per row as a text parameter cast in a generic plan would be.
-- The event tail (logged, notified) is eventCtesSql's (src/queue/events.ts): change both together
-- (test/queue/enqueue-function.test.ts compares the function's rows, events and payloads with the statement's).
CREATE OR REPLACE FUNCTION taskwire_enqueue(
  ids uuid[],
  name_each jsonb, name_all text,
  queue_each jsonb, queue_all text,
  priority_each jsonb, priority_all smallint,
  args_each jsonb, args_all jsonb,
  kwargs_each jsonb, kwargs_all jsonb,
  max_attempts_each jsonb, max_attempts_all int,
  run_after_each jsonb, run_after_all timestamptz,
  timeout_ms_each jsonb, timeout_ms_all int,
  result_ttl_ms_each jsonb, result_ttl_ms_all bigint,
  backoff_each jsonb, backoff_all jsonb,
  tenant_each jsonb, tenant_all text,
  created_by_each jsonb, created_by_all text,
  concurrency_key_each jsonb, concurrency_key_all text,
  OUT enqueued_at timestamptz, OUT inserted bigint, OUT notifications bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET plan_cache_mode = force_generic_plan
AS $$
  WITH input AS (
    SELECT u.i, (u.o - 1)::int AS j FROM unnest(ids) WITH ORDINALITY AS u(i, o)
  ),
  changed AS (
    INSERT INTO tasks (id, name, queue, priority, args, kwargs, max_attempts, run_after,
                       timeout_ms, result_ttl_ms, backoff, tenant, created_by, concurrency_key)
    SELECT i,
           coalesce(name_each ->> j, name_all),
           coalesce(queue_each ->> j, queue_all),
           coalesce((priority_each ->> j)::smallint, priority_all),
           coalesce(args_each -> j, args_all),
           coalesce(kwargs_each -> j, kwargs_all),
           coalesce((max_attempts_each ->> j)::int, max_attempts_all),
           coalesce((run_after_each ->> j)::timestamptz, run_after_all, now()),
           coalesce((timeout_ms_each ->> j)::int, timeout_ms_all),
           coalesce((result_ttl_ms_each ->> j)::bigint, result_ttl_ms_all),
           nullif(coalesce(backoff_each -> j, backoff_all), 'null'::jsonb),
           coalesce(tenant_each ->> j, tenant_all),
           coalesce(created_by_each ->> j, created_by_all),
           coalesce(concurrency_key_each ->> j, concurrency_key_all)
    FROM input
    RETURNING id, queue, version, status, attempts
  ),
  woken AS (
    SELECT pg_notify('taskwire_jobs', queue) FROM (SELECT DISTINCT queue FROM changed) q
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error)
    SELECT id, version, 'ENQUEUED'::task_event_type, status, attempts, NULL, NULL, NULL
    FROM changed
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading woken and notified makes them run (a read-only CTE nothing reads is skipped).
  SELECT now(), (SELECT count(*) FROM changed), (SELECT count(*) FROM notified) + (SELECT count(*) FROM woken)
$$;
