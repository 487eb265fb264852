-- One task's versions in version order in the feed (issue 11; docs/event-log.md). The feed orders events
-- by (tx, seq), tx being the writing transaction's id, which a transaction takes at its first write: a
-- statement changing several tasks (an output batch, completions, a claim, a bulk action) takes it at
-- its first row, and when another transaction writes and commits the next version of a later row's task
-- meanwhile, the statement's version after that one had the lower tx and sorted first (a feed consumer
-- applying a task's events went backwards: seen in 3 tasks of ~16,000 by a tester).
--
-- tasks.last_event_tx holds the tx of the task's latest event. Every statement that writes an event sets
-- it to greatest(itself, pg_current_xact_id()) in the UPDATE it makes anyway, and gives the event that
-- value: never below the previous version's tx (its transaction committed before this row could be
-- locked), never below its own transaction's id (the feed reads only below the oldest running
-- transaction, so an event is never read before it commits, nor behind a cursor handed out). An INSERT
-- takes the default, its own transaction's id. A row trigger doing the same from task_events cost
-- +12–16 µs of PostgreSQL CPU per drained task (+25–30 %); this costs a column of 8 bytes on the row.
--
-- No rewrite and a short lock: the column is added without a default (rows from before hold NULL, and
-- greatest() ignores a NULL: their next event takes its own transaction's id, as before), and the
-- default is set afterwards, for new rows only. The functions below are the ones of 0034 (the three
-- claims: with passed_over, without it as claimTasks calls when it has none, and the oldest, which a
-- worker of an older taskwire may call during a rolling deploy), 0033 (complete), 0038 (output), 0036
-- (fail), 0037 (snooze) and 0035 (the workflow trigger), with only the column set and carried into the
-- event; each says SET jit = off again (0039). taskwire_enqueue (0029) inserts: the column's default
-- and the event's tx default are both its transaction's id.
ALTER TABLE "tasks" ADD COLUMN "last_event_tx" "xid8";
--> statement-breakpoint
ALTER TABLE "tasks" ALTER COLUMN "last_event_tx" SET DEFAULT pg_current_xact_id();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_claim(claimer text, lim integer, lease_ms double precision, free_slots integer, passed_over uuid[])
 RETURNS SETOF tasks
 LANGUAGE sql
 ROWS 10
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
 SET enable_sort TO 'off'
 SET jit TO 'off'
AS $function$
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
  held AS (
    SELECT coalesce(array_agg(name), '{}') AS names FROM queues
    WHERE paused OR concurrency IS NOT NULL OR rate_max IS NOT NULL OR per_key_concurrency IS NOT NULL
  ),
  next AS (
    SELECT id, priority, run_after FROM tasks
    WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now()
      AND queue <> ALL ((SELECT names FROM held)::text[])
      -- A hashed subplan: one probe per row walked, whatever the size of the list.
      AND id NOT IN (SELECT unnest(passed_over))
    ORDER BY priority DESC NULLS LAST, run_after, id
    LIMIT lim
    FOR UPDATE SKIP LOCKED
  ),
  last_free AS (
    SELECT -priority AS p, run_after, id FROM next
    ORDER BY priority DESC NULLS LAST, run_after, id OFFSET greatest(free_slots - 1, 0) LIMIT 1
  ),
  changed AS (
    UPDATE tasks t SET
      status = 'RUNNING',
      attempts = t.attempts + 1,
      version = t.version + 1,
      last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
      started_at = coalesce(t.started_at, (SELECT at FROM clock)),
      last_attempted_at = (SELECT at FROM clock),
      worker_ids = array_append(t.worker_ids, claimer),
      locked_by = claimer,
      lease_expires_at = now() + lease_ms * interval '1 millisecond',
      claimed_ahead_at = CASE WHEN free_slots >= lim THEN NULL
                              WHEN free_slots <= 0 THEN (SELECT at FROM clock)
                              WHEN (-t.priority, t.run_after, t.id) > (SELECT p, run_after, id FROM last_free)
                              THEN (SELECT at FROM clock) END
    -- By primary key whatever the planner estimates of next (a join to it could scan tasks).
    WHERE t.id = ANY(ARRAY(SELECT id FROM next))
    RETURNING t.*
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at, tx)
    SELECT id, version, 'STARTED'::task_event_type, status, attempts, locked_by, NULL, NULL, last_attempted_at, last_event_tx
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
$function$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_claim(claimer text, lim integer, lease_ms double precision, free_slots integer)
 RETURNS SETOF tasks
 LANGUAGE sql
 ROWS 10
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
 SET enable_sort TO 'off'
 SET jit TO 'off'
AS $function$
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
  held AS (
    SELECT coalesce(array_agg(name), '{}') AS names FROM queues
    WHERE paused OR concurrency IS NOT NULL OR rate_max IS NOT NULL OR per_key_concurrency IS NOT NULL
  ),
  next AS (
    SELECT id, priority, run_after FROM tasks
    WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now()
      AND queue <> ALL ((SELECT names FROM held)::text[])
    ORDER BY priority DESC NULLS LAST, run_after, id
    LIMIT lim
    FOR UPDATE SKIP LOCKED
  ),
  last_free AS (
    SELECT -priority AS p, run_after, id FROM next
    ORDER BY priority DESC NULLS LAST, run_after, id OFFSET greatest(free_slots - 1, 0) LIMIT 1
  ),
  changed AS (
    UPDATE tasks t SET
      status = 'RUNNING',
      attempts = t.attempts + 1,
      version = t.version + 1,
      last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
      started_at = coalesce(t.started_at, (SELECT at FROM clock)),
      last_attempted_at = (SELECT at FROM clock),
      worker_ids = array_append(t.worker_ids, claimer),
      locked_by = claimer,
      lease_expires_at = now() + lease_ms * interval '1 millisecond',
      claimed_ahead_at = CASE WHEN free_slots >= lim THEN NULL
                              WHEN free_slots <= 0 THEN (SELECT at FROM clock)
                              WHEN (-t.priority, t.run_after, t.id) > (SELECT p, run_after, id FROM last_free)
                              THEN (SELECT at FROM clock) END
    -- By primary key whatever the planner estimates of next (a join to it could scan tasks).
    WHERE t.id = ANY(ARRAY(SELECT id FROM next))
    RETURNING t.*
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at, tx)
    SELECT id, version, 'STARTED'::task_event_type, status, attempts, locked_by, NULL, NULL, last_attempted_at, last_event_tx
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
$function$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_claim(claimer text, lim integer, lease_ms double precision)
 RETURNS SETOF tasks
 LANGUAGE sql
 ROWS 10
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
 SET enable_sort TO 'off'
 SET jit TO 'off'
AS $function$
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
  held AS (
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
      last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
      started_at = coalesce(t.started_at, (SELECT at FROM clock)),
      last_attempted_at = (SELECT at FROM clock),
      worker_ids = array_append(t.worker_ids, claimer),
      locked_by = claimer,
      lease_expires_at = now() + lease_ms * interval '1 millisecond'
    -- By primary key whatever the planner estimates of next (a join to it could scan tasks).
    WHERE t.id = ANY(ARRAY(SELECT id FROM next))
    RETURNING t.*
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at, tx)
    SELECT id, version, 'STARTED'::task_event_type, status, attempts, locked_by, NULL, NULL, last_attempted_at, last_event_tx
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
$function$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_complete(completer text, task_ids uuid[], results jsonb, default_ttl_ms bigint, workflow_ids uuid[], OUT recorded text, OUT notifications bigint)
 RETURNS record
 LANGUAGE sql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
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
  changed AS (
    UPDATE tasks t SET
      status = 'SUCCEEDED',
      return_value = nullif(results -> (t.id::text || ':' || t.attempts), 'null'::jsonb),
      version = t.version + 1,
      last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
      finished_at = (SELECT at FROM clock),
      locked_by = NULL,
      lease_expires_at = NULL,
      expires_at = (SELECT at FROM clock) + coalesce(t.result_ttl_ms, default_ttl_ms) * interval '1 millisecond'
    WHERE t.id = ANY(task_ids) AND t.status::text = 'RUNNING' AND t.locked_by = completer
      AND results ? (t.id::text || ':' || t.attempts)
      -- The workflows first (a one-time filter, before the first row is locked).
      AND (SELECT count(*) FROM wf_locked) >= 0
    -- Only what the events need: reading back every result would cost a parse per task for nothing.
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
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_append_output(writer text, appends jsonb, cap_bytes integer, OUT recorded text, OUT notifications bigint)
 RETURNS record
 LANGUAGE sql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
  WITH input AS (
    SELECT * FROM jsonb_to_recordset(appends) AS x(i uuid, a int, b int, t boolean, c jsonb, p int)
    ORDER BY x.i
  ),
  changed AS (
    UPDATE tasks t SET
      version = t.version + jsonb_array_length(input.c),
      last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
      output_bytes = CASE WHEN input.t THEN greatest(t.output_bytes + input.b, cap_bytes) ELSE t.output_bytes + input.b END
    FROM input
    WHERE t.id = input.i AND t.status::text = 'RUNNING' AND t.locked_by = writer AND t.attempts = input.a
      AND (input.p IS NULL OR t.output_bytes = input.p)
    RETURNING t.id, t.version, t.status, t.attempts, t.last_event_tx, input.c AS chunks
  ),
  -- Stored by an earlier try of this batch (read in the statement's snapshot: the rows as they were).
  stored_before AS (
    SELECT t.id FROM input JOIN tasks t ON t.id = input.i
    WHERE input.p IS NOT NULL AND t.status::text = 'RUNNING' AND t.locked_by = writer AND t.attempts = input.a
      AND t.output_bytes = CASE WHEN input.t THEN greatest(input.p + input.b, cap_bytes) ELSE input.p + input.b END
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, output, tx)
    SELECT changed.id, changed.version - jsonb_array_length(changed.chunks) + e.ord::int, 'OUTPUT'::task_event_type,
           changed.status, changed.attempts, writer, e.chunk, changed.last_event_tx
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
$function$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_fail(failer text, task_ids uuid[], failures jsonb, default_ttl_ms bigint, workflow_ids uuid[], OUT recorded text, OUT notifications bigint)
 RETURNS record
 LANGUAGE sql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
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
      last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
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
    RETURNING t.id, t.version, t.status, t.attempts, t.worker_ids[cardinality(t.worker_ids)] AS worker, t.errors -> -1 AS error, t.last_event_tx
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at, tx)
    SELECT id, version,
           (CASE status WHEN 'RETRYING' THEN 'RETRY_SCHEDULED' WHEN 'FAILED' THEN 'FAILED' ELSE 'CANCELLED' END)::task_event_type,
           status, attempts, worker, NULL, error, (SELECT at FROM clock), last_event_tx
    FROM changed
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading notified makes it run (a read-only CTE nothing reads is skipped).
  SELECT string_agg(id::text || ':' || status, ','), (SELECT count(*) FROM notified) FROM changed
$function$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_snooze(snoozer text, task_ids uuid[], delays jsonb, default_ttl_ms bigint, workflow_ids uuid[], OUT recorded text, OUT notifications bigint)
 RETURNS record
 LANGUAGE sql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
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
      last_event_tx = greatest(t.last_event_tx, pg_current_xact_id()),
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
    RETURNING t.id, t.version, t.status, t.attempts, t.last_event_tx
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at, tx)
    SELECT id, version,
           (CASE WHEN status = 'CANCELLED' THEN 'CANCELLED' ELSE 'SNOOZED' END)::task_event_type,
           status, CASE WHEN status = 'CANCELLED' THEN attempts ELSE attempts + 1 END, snoozer, NULL, NULL, (SELECT at FROM clock), last_event_tx
    FROM changed
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading notified makes it run (a read-only CTE nothing reads is skipped).
  SELECT string_agg(id::text || ':' || status, ','), (SELECT count(*) FROM notified) FROM changed
$function$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_workflow_steps_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SET jit TO 'off'
AS $function$
DECLARE
  ids uuid[];
  frontier uuid[];
  revived uuid[] := '{}';
  more uuid[];
  doomed uuid[];
  n bigint;
BEGIN
  PERFORM set_config('taskwire.workflow_steps_changed', '', true);
  WITH taken AS (DELETE FROM workflow_step_changes WHERE tx = pg_current_xact_id() RETURNING task_id, old_status, new_status)
  SELECT array_agg(task_id) INTO ids FROM taken;
  IF ids IS NULL THEN RETURN NULL; END IF;

  -- 1. Workflows: locked in id order, then counted.
  PERFORM 1 FROM workflows WHERE id IN (SELECT workflow_id FROM tasks WHERE id = ANY(ids)) ORDER BY id FOR UPDATE;
  WITH d AS (
    SELECT t.workflow_id AS id,
           sum(CASE WHEN t.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') THEN 1 ELSE -1 END) AS finished,
           sum(CASE WHEN t.status = 'SUCCEEDED' THEN 1 ELSE 0 END) AS succeeded
    FROM tasks t WHERE t.id = ANY(ids) GROUP BY t.workflow_id
  ),
  changed AS (
    UPDATE workflows w SET
      steps_finished = w.steps_finished + d.finished,
      steps_succeeded = w.steps_succeeded + d.succeeded,
      status = (CASE
        WHEN w.status = 'CANCELLED' AND d.finished > 0 THEN 'CANCELLED'
        WHEN w.steps_finished + d.finished < w.steps_total THEN 'RUNNING'
        WHEN w.steps_succeeded + d.succeeded = w.steps_total THEN 'SUCCEEDED'
        ELSE 'FAILED' END)::workflow_status,
      version = w.version + 1,
      -- (the status expression again: SET cannot read what another assignment computed)
      finished_at = CASE WHEN (CASE
        WHEN w.status = 'CANCELLED' AND d.finished > 0 THEN 'CANCELLED'
        WHEN w.steps_finished + d.finished < w.steps_total THEN 'RUNNING'
        WHEN w.steps_succeeded + d.succeeded = w.steps_total THEN 'SUCCEEDED'
        ELSE 'FAILED' END)::workflow_status = 'RUNNING' THEN NULL WHEN w.status = 'RUNNING' THEN clock_timestamp() ELSE w.finished_at END
    FROM d
    WHERE w.id = d.id
    RETURNING w.id, w.version, w.status
  ),
  notified AS (
    SELECT pg_notify('taskwire_workflows', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  SELECT count(*) INTO n FROM notified;

  -- 2. CANCEL-policy descendants of the steps that failed or were cancelled (not by a workflow cancel).
  -- Each step of the walk reads rows by primary key (the LATERALs, kept apart by OFFSET 0): a
  -- join the planner may turn into a scan of tasks per generation, with a recursive CTE's row
  -- estimates, was seconds for a chain of a few hundred.
  WITH RECURSIVE down(id, via, root_ref, root_status) AS (
    SELECT c.id, p.step_ref, p.step_ref, p.status::text
    FROM tasks p JOIN workflows w ON w.id = p.workflow_id AND w.status <> 'CANCELLED'
    CROSS JOIN LATERAL (SELECT c.id FROM tasks c WHERE c.id = ANY(p.dependents) AND c.status = 'BLOCKED' AND c.on_dependency_failure = 'CANCEL' OFFSET 0) c
    WHERE p.id = ANY(ids) AND p.status IN ('FAILED', 'CANCELLED')
    UNION
    SELECT c.id, p.step_ref, d.root_ref, d.root_status
    FROM down d
    CROSS JOIN LATERAL (SELECT p.step_ref, p.dependents FROM tasks p WHERE p.id = d.id OFFSET 0) p
    CROSS JOIN LATERAL (SELECT c.id FROM tasks c WHERE c.id = ANY(p.dependents) AND c.status = 'BLOCKED' AND c.on_dependency_failure = 'CANCEL' OFFSET 0) c
  )
  SELECT array_agg(DISTINCT id) INTO doomed FROM down;
  IF doomed IS NOT NULL THEN
    PERFORM 1 FROM tasks WHERE id = ANY(doomed) AND status = 'BLOCKED' ORDER BY id FOR UPDATE;
    WITH RECURSIVE down(id, via, root_ref, root_status) AS (
      SELECT c.id, p.step_ref, p.step_ref, p.status::text
      FROM tasks p CROSS JOIN LATERAL unnest(p.dependents) AS c(id)
      WHERE p.id = ANY(ids) AND p.status IN ('FAILED', 'CANCELLED') AND c.id = ANY(doomed)
      UNION
      SELECT c.id, p.step_ref, d.root_ref, d.root_status
      FROM down d
      CROSS JOIN LATERAL (SELECT p.step_ref, p.dependents FROM tasks p WHERE p.id = d.id OFFSET 0) p
      CROSS JOIN LATERAL unnest(p.dependents) AS c(id)
      WHERE c.id = ANY(doomed)
    ),
    why AS (SELECT DISTINCT ON (id) id, via, root_ref, root_status FROM down ORDER BY id, (via = root_ref) DESC, via),
    changed AS (
      UPDATE tasks c SET
        status = 'CANCELLED',
        version = c.version + 1,
        last_event_tx = greatest(c.last_event_tx, pg_current_xact_id()),
        finished_at = clock_timestamp(),
        errors = c.errors || jsonb_build_array(jsonb_build_object(
          'exceptionType', 'DependencyFailed',
          'message', CASE WHEN why.via = why.root_ref THEN format('Dependency "%s" %s', why.root_ref, why.root_status)
                          ELSE format('Dependency "%s" was cancelled: dependency "%s" %s', why.via, why.root_ref, why.root_status) END,
          'dependency', why.via,
          'traceback', NULL,
          'attempt', c.attempts,
          'at', clock_timestamp(),
          'workerId', NULL))
      FROM why WHERE c.id = why.id AND c.status = 'BLOCKED'
      RETURNING c.id, c.version, c.status, c.attempts, c.errors -> -1 AS error, c.last_event_tx
    ),
    logged AS (
      INSERT INTO task_events (task_id, version, type, status, attempt, error, tx)
      SELECT id, version, 'CANCELLED', status, attempts, error, last_event_tx FROM changed
    ),
    notified AS (
      SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
      FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
      GROUP BY chunk
    )
    SELECT count(*) INTO n FROM notified;
  END IF;

  -- 3. The other BLOCKED children: one parent less for each that ended; released at 0.
  PERFORM 1 FROM tasks
  WHERE id IN (SELECT unnest(dependents) FROM tasks WHERE id = ANY(ids) AND status IN ('SUCCEEDED', 'FAILED', 'CANCELLED'))
    AND status = 'BLOCKED'
  ORDER BY id FOR UPDATE;
  WITH e AS (
    SELECT child AS id, count(*) AS n
    FROM tasks p, unnest(p.dependents) AS child
    WHERE p.id = ANY(ids) AND p.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
    GROUP BY child
  ),
  changed AS (
    UPDATE tasks c SET
      waiting_parents = c.waiting_parents - e.n,
      status = (CASE WHEN c.waiting_parents > e.n THEN 'BLOCKED'
                     WHEN w.status = 'CANCELLED' THEN 'CANCELLED' ELSE 'PENDING' END)::task_status,
      version = c.version + CASE WHEN c.waiting_parents > e.n THEN 0 ELSE 1 END,
      last_event_tx = CASE WHEN c.waiting_parents > e.n THEN c.last_event_tx ELSE greatest(c.last_event_tx, pg_current_xact_id()) END,
      finished_at = CASE WHEN c.waiting_parents <= e.n AND w.status = 'CANCELLED' THEN clock_timestamp() END
    FROM e, workflows w
    WHERE c.id = e.id AND c.status = 'BLOCKED' AND w.id = c.workflow_id
    RETURNING c.id, c.version, c.status, c.attempts, c.queue, c.last_event_tx
  ),
  moved AS (SELECT * FROM changed WHERE status <> 'BLOCKED'),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, tx)
    SELECT id, version, (CASE WHEN status = 'PENDING' THEN 'RELEASED' ELSE 'CANCELLED' END)::task_event_type, status, attempts, last_event_tx
    FROM moved
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM moved) c
    GROUP BY chunk
  ),
  woken AS (SELECT pg_notify('taskwire_jobs', queue) FROM (SELECT DISTINCT queue FROM moved WHERE status = 'PENDING') q)
  SELECT (SELECT count(*) FROM notified) + (SELECT count(*) FROM woken) INTO n;

  -- 4. Steps back from an end by a retry (PENDING, or BLOCKED when the retry found parents still
  -- to end): first which descendants come back, generation by generation, reading only (a step
  -- comes back once none of its parents is FAILED or CANCELLED but for those coming back with it);
  -- then all of them in one statement. The revived ones' own statement (nested, below) walks from
  -- them again and finds nothing left to revive: one read of their children.
  SELECT array_agg(DISTINCT child) INTO frontier
  FROM tasks p, unnest(p.dependents) AS child
  WHERE p.id = ANY(ids) AND p.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
  WHILE frontier IS NOT NULL LOOP
    SELECT array_agg(c.id) INTO more FROM tasks c
    WHERE c.id = ANY(frontier) AND NOT c.id = ANY(revived) AND c.status = 'CANCELLED'
      AND c.errors -> -1 ->> 'exceptionType' = 'DependencyFailed'
      AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.id = ANY(c.depends_on) AND p.status IN ('FAILED', 'CANCELLED') AND NOT p.id = ANY(revived));
    -- A step whose other parents come back later in this generation is looked at again with
    -- the next one (as their child).
    IF more IS NULL THEN
      EXIT;
    END IF;
    revived := revived || more;
    SELECT array_agg(DISTINCT child) INTO frontier FROM tasks p, unnest(p.dependents) AS child WHERE p.id = ANY(more);
  END LOOP;
  IF cardinality(revived) > 0 THEN
    PERFORM 1 FROM tasks WHERE id = ANY(revived) ORDER BY id FOR UPDATE;
    WITH changed AS (
      UPDATE tasks c SET
        status = 'BLOCKED',
        last_event_tx = greatest(c.last_event_tx, pg_current_xact_id()),
        -- Parents not SUCCEEDED: the retried step, those coming back with this one, and any still to run.
        waiting_parents = (SELECT count(*) FROM tasks p WHERE p.id = ANY(c.depends_on) AND p.status <> 'SUCCEEDED'),
        version = c.version + 1,
        finished_at = NULL,
        expires_at = NULL
      WHERE c.id = ANY(revived) AND c.status = 'CANCELLED'
      RETURNING c.id, c.version, c.status, c.attempts, c.last_event_tx
    ),
    logged AS (
      INSERT INTO task_events (task_id, version, type, status, attempt, tx)
      SELECT id, version, 'RETRIED', status, attempts, last_event_tx FROM changed
    ),
    notified AS (
      SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
      FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
      GROUP BY chunk
    )
    SELECT count(*) INTO n FROM notified;
  END IF;
  RETURN NULL;
END
$function$;
