-- Results kept as json, not jsonb (issue 17; docs/decisions.md "Results as json"). PostgreSQL parsed
-- every result into jsonb on its way in: ~0.5 ms of its CPU per 10 KB, ten times what validating the
-- same text as json costs, for a value nothing filters inside. ALTER COLUMN ... TYPE would rewrite
-- the table under an exclusive lock, so the result gets a new column instead (NULL, no default: no
-- rewrite, the ACCESS EXCLUSIVE lock held only for the catalog change). taskwire_complete below
-- writes it from now on; readers take it, else return_value (rows from before, and completions by a
-- worker of an older taskwire, whose taskwire_complete overloads stay as they were for a rolling
-- deploy). return_value empties as retention deletes those rows.
ALTER TABLE "tasks" ADD COLUMN "return_value_json" json;
--> statement-breakpoint
-- The batch's results as one json array in the order of task_ids, with each task's attempt beside its
-- id: read once by json_array_elements (one parse of the batch), not an object looked up per row (on
-- json, `->` re-reads the text from its start: ~12 ms a value at 200 values of 10 KB). A JSON null
-- result is stored as NULL, as before. The update is driven by the input, in id order: for each of its
-- rows, one probe of tasks_pkey. Hash and merge joins are off because the other orders were worse: tasks
-- scanned by `id = ANY(task_ids)` (through any index whose leading column it could skip) with the
-- input re-read for every row, n² (7 of 11 ms for 200 completions). Otherwise as drizzle/0041's.
CREATE OR REPLACE FUNCTION taskwire_complete(completer text, task_ids uuid[], task_attempts integer[], results json, default_ttl_ms bigint, workflow_ids uuid[], OUT recorded text, OUT notifications bigint)
 RETURNS record
 LANGUAGE sql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
 SET enable_hashjoin TO 'off'
 SET enable_mergejoin TO 'off'
 SET jit TO 'off'
AS $function$
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
  -- coalesce evaluates the read of the batch's rows only when the caller passed NULL.
  wf_locked AS MATERIALIZED (
    SELECT id FROM workflows
    WHERE id = ANY(coalesce(workflow_ids,
                            ARRAY(SELECT workflow_id FROM tasks WHERE id = ANY(task_ids) AND workflow_id IS NOT NULL)))
    ORDER BY id FOR UPDATE
  ),
  -- In id order: the update takes the rows in the input's order, and every statement locking several
  -- tasks takes them by id (docs/decisions.md "One lock order for task rows"; a batch lists them as
  -- they finished, and the heartbeat or a bulk cancel deadlocked with it). A value missing from
  -- results (unnest pads a shorter array with NULL, where a JSON null is 'null') records nothing.
  input AS MATERIALIZED (
    SELECT b.id, b.attempt, b.value
    FROM unnest(task_ids, task_attempts,
                ARRAY(SELECT e.value FROM json_array_elements(results) WITH ORDINALITY AS e(value, ord) ORDER BY e.ord))
         AS b(id, attempt, value)
    WHERE b.value IS NOT NULL
    ORDER BY b.id
  ),
  changed AS (
    UPDATE tasks t SET
      status = 'SUCCEEDED',
      return_value_json = CASE WHEN json_typeof(input.value) = 'null' THEN NULL ELSE input.value END,
      version = t.version + 1,
      last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
      finished_at = (SELECT at FROM clock),
      locked_by = NULL,
      lease_expires_at = NULL,
      expires_at = (SELECT at FROM clock) + coalesce(t.result_ttl_ms, default_ttl_ms) * interval '1 millisecond'
    FROM input
    WHERE t.id = input.id AND t.attempts = input.attempt
      AND t.status::text = 'RUNNING' AND t.locked_by = completer
      -- The workflows first (a one-time filter, before the first row is locked).
      AND (SELECT count(*) FROM wf_locked) >= 0
    -- Only what the events need.
    RETURNING t.id, t.version, t.status, t.attempts, t.finished_at, t.last_event_tx
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at, tx)
    SELECT id, version, 'SUCCEEDED'::task_event_type, status, attempts, completer, NULL, NULL, finished_at, last_event_tx
    FROM changed
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading notified makes it run (a read-only CTE nothing reads is skipped).
  SELECT string_agg(id::text, ','), (SELECT count(*) FROM notified) FROM changed
$function$;
