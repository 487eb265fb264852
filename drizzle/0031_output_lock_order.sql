-- taskwire_append_output takes its tasks' rows in id order (docs/decisions.md "One lock order for
-- task rows"). Its update joined tasks to the batch in the order the worker listed the tasks (the
-- order their output arrived), while the heartbeat renewing the same tasks' leases (and the
-- completion of a batch, taskwire_complete, by tasks_pkey) locks them in id order: the two
-- deadlocked (40P01, retried after a second; test/queue/lock-order.test.ts). The batch is now
-- sorted by task id before the join, so the update meets, and locks, its rows in that order: a sort
-- of the batch (one entry per task), no other change. Same signature and result, so workers of an
-- older taskwire during a rolling deploy call this body too. CREATE OR REPLACE FUNCTION takes no lock
-- on tasks. Otherwise as drizzle/0021 (why a function and why its settings).
CREATE OR REPLACE FUNCTION taskwire_append_output(
  writer text, appends jsonb, cap_bytes int,
  OUT recorded text, OUT notifications bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off SET enable_seqscan = off
AS $$
  WITH input AS (
    SELECT * FROM jsonb_to_recordset(appends) AS x(i uuid, a int, b int, t boolean, c jsonb)
    ORDER BY x.i
  ),
  changed AS (
    UPDATE tasks t SET
      version = t.version + jsonb_array_length(input.c),
      output_bytes = CASE WHEN input.t THEN greatest(t.output_bytes + input.b, cap_bytes) ELSE t.output_bytes + input.b END
    FROM input
    WHERE t.id = input.i AND t.status::text = 'RUNNING' AND t.locked_by = writer AND t.attempts = input.a
    RETURNING t.id, t.version, t.status, t.attempts, input.c AS chunks
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, output)
    SELECT changed.id, changed.version - jsonb_array_length(changed.chunks) + e.ord::int, 'OUTPUT'::task_event_type,
           changed.status, changed.attempts, writer, e.chunk
    FROM changed, jsonb_array_elements(changed.chunks) WITH ORDINALITY AS e(chunk, ord)
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status || ':O', ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading notified makes it run (a read-only CTE nothing reads is skipped).
  SELECT string_agg(id::text, ','), (SELECT count(*) FROM notified) FROM changed
$$;
