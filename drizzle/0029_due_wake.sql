-- Workers hear when a task enqueued for later falls due (taskwire_enqueue as drizzle/0019, with
-- its wake-up changed): each queue of the statement's rows is woken by its name when one of them is
-- due now, and by `due:<ms>:<queue>` for the earliest of those due later, <ms> from the statement's
-- clock (src/queue/due-notice.ts wakeQueuesSql, the same text: test/queue/enqueue-function.test.ts
-- compares the payloads). Before, a later runAfter woke its queue at once, finding nothing, and the
-- task waited for a worker's poll (up to WORKER_POLL_INTERVAL_MS late). Workers of an older
-- taskwire take the notice for a queue name they do not serve, or (serving every queue) look once
-- for nothing, as they did before.
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
    RETURNING id, queue, run_after, version, status, attempts
  ),
  woken AS (
    SELECT pg_notify('taskwire_jobs', w.payload) FROM (
      SELECT queue, bool_or(run_after <= now()) AS due_now, min(run_after) FILTER (WHERE run_after > now()) AS next
      FROM changed WHERE true GROUP BY queue
    ) q
    CROSS JOIN LATERAL (VALUES
      (CASE WHEN q.due_now THEN q.queue END),
      (CASE WHEN q.next IS NOT NULL
            THEN 'due:' || ceil(extract(epoch FROM q.next - now()) * 1000)::bigint || ':' || q.queue END)
    ) w(payload)
    WHERE w.payload IS NOT NULL
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
