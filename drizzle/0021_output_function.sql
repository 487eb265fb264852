-- A worker's batch of output chunks as one function (issue 11): taskwire_append_output(writer,
-- appends, cap_bytes) appends each running attempt's chunks of `appends` (a jsonb array of
-- {i: task id, a: attempt, b: bytes, t: truncated, c: [chunks]}, one entry per task) to the tasks
-- still RUNNING under writer's lock in that attempt: their version moves up by the number of chunks,
-- each chunk becomes an OUTPUT event with its own version, and they are announced on
-- taskwire_events with the `:O` flag. It returns the ids it stored (comma-joined) and how many
-- NOTIFYs it sent: the statement src/queue/sql/append-output.ts sent, unchanged in effect.
-- Why a function: the pool asks for custom plans (plan_cache_mode = force_custom_plan,
-- src/db/client.ts), so that statement was planned on every call: ~0.5 ms of planning beside
-- 0.25-0.8 ms of running it, for a worker streaming output once every 10 ms
-- (bench/tools/output-cost.ts). The body keeps one generic plan per session (PostgreSQL 18), as
-- taskwire_complete's (drizzle/0020): the status is compared as text so that no partial index on
-- it is chosen, and bitmap and sequential scans are off, so the update finds its rows by tasks_pkey
-- for one task or hundreds, with or without statistics (test/queue/output-function.test.ts).
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
