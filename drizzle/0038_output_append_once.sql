-- taskwire_append_output stores a batch once even when it is sent twice (issue 11: every chunk
-- exactly once). A worker retries an output statement that failed with the connection; when the
-- statement had committed and only its answer was lost (the connection cut after the commit), the
-- retry appended the same chunks again under new versions: duplicates in the durable log that every
-- reader, late ones too, then saw (found by a tester whose proxy dropped PostgreSQL's answers and then
-- cut the connection: 3,005 OUTPUT events for 3,000 chunks, 2 runs of 2). Each append may now say `p`,
-- the task's output_bytes before its chunks as the attempt counts them (one worker writes an attempt's
-- output, one statement at a time, so its count is exact): the update appends only when the row still
-- says `p`; a row that says what the append would have made it (p + its bytes, raised to the cap when
-- truncated) was stored by an earlier try, and is reported recorded without appending or notifying
-- again. Every append writes at least one byte (a chunk is JSON) or the marker raising the count to
-- the cap, so the two cases never meet. Without `p` (a worker of an older taskwire during a rolling
-- deploy) the append is as before. Same signature and result; CREATE OR REPLACE FUNCTION takes no lock
-- on tasks. Otherwise as drizzle/0031 (rows in id order) and drizzle/0021 (why a function, its settings).
CREATE OR REPLACE FUNCTION taskwire_append_output(
  writer text, appends jsonb, cap_bytes int,
  OUT recorded text, OUT notifications bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off SET enable_seqscan = off
AS $$
  WITH input AS (
    SELECT * FROM jsonb_to_recordset(appends) AS x(i uuid, a int, b int, t boolean, c jsonb, p int)
    ORDER BY x.i
  ),
  changed AS (
    UPDATE tasks t SET
      version = t.version + jsonb_array_length(input.c),
      output_bytes = CASE WHEN input.t THEN greatest(t.output_bytes + input.b, cap_bytes) ELSE t.output_bytes + input.b END
    FROM input
    WHERE t.id = input.i AND t.status::text = 'RUNNING' AND t.locked_by = writer AND t.attempts = input.a
      AND (input.p IS NULL OR t.output_bytes = input.p)
    RETURNING t.id, t.version, t.status, t.attempts, input.c AS chunks
  ),
  -- Stored by an earlier try of this batch (read in the statement's snapshot: the rows as they were).
  stored_before AS (
    SELECT t.id FROM input JOIN tasks t ON t.id = input.i
    WHERE input.p IS NOT NULL AND t.status::text = 'RUNNING' AND t.locked_by = writer AND t.attempts = input.a
      AND t.output_bytes = CASE WHEN input.t THEN greatest(input.p + input.b, cap_bytes) ELSE input.p + input.b END
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
  SELECT (SELECT string_agg(id::text, ',') FROM (SELECT id FROM changed UNION ALL SELECT id FROM stored_before) r),
         (SELECT count(*) FROM notified)
$$;
