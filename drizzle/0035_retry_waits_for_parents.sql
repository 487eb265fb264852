-- A retried workflow step waits for its parents (docs/workflows.md "Retrying and cancelling").
-- retryTask and the bulk retry (src/queue/sql/requeue-task.ts, requeueCtes) made every retried
-- task PENDING: a step cancelled while BLOCKED ran at once, before its parent had ended, with
-- ctx.dependencies[parent] = null, and the children its retry revived ran on that. Now a retried
-- step whose parents have not all ended goes back to BLOCKED with waiting_parents counted, as the
-- descendants its retry revives do, and is released when they end.
--
-- taskwire_parents_to_wait_for(steps, retried): for each retried step, how many of its parents it
-- must wait for: those not ended, and those FAILED/CANCELLED that the same statement retries (a
-- bulk batch holding a step and its parent). A parent that ended FAILED/CANCELLED and is not
-- retried with it, or that is gone, is not waited for (the step runs without its result, as
-- documented). plpgsql and VOLATILE so that its query reads a snapshot of its own, taken when it
-- runs: the retry statement's snapshot is taken before it waits for the workflow row (wf_locked,
-- src/queue/sql/workflow-locks.ts), and a parent that ended while it waited (its completion held
-- that row) would read as still running there, leaving the step BLOCKED for ever. Once the
-- workflow row is held no step of it enters or leaves an end, so what this reads stays true until
-- the retry commits. One call per statement (a call per step cost a snapshot each: a bulk batch
-- of 400 steps took 0.6 s more); it reads the steps and their parents by tasks_pkey.
-- taskwire_workflow_steps_changed: as drizzle/0015, but part 4 (the revival of the retried step's
-- DependencyFailed-cancelled descendants) starts from a retried step that went back to BLOCKED too.
--
-- CREATE OR REPLACE FUNCTION takes no lock on tasks.
CREATE OR REPLACE FUNCTION taskwire_parents_to_wait_for(steps uuid[], retried uuid[])
RETURNS TABLE (step_id uuid, parents_waited_for int)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $fn$
BEGIN
  RETURN QUERY
  SELECT c.id, (count(*) FILTER (WHERE p.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
                                    OR (p.status IN ('FAILED', 'CANCELLED') AND r.id IS NOT NULL)))::int
  FROM tasks c
  LEFT JOIN tasks p ON p.id = ANY(c.depends_on)
  LEFT JOIN unnest(retried) AS r(id) ON r.id = p.id
  WHERE c.id = ANY(steps)
  GROUP BY c.id;
END
$fn$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_workflow_steps_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
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
      RETURNING c.id, c.version, c.status, c.attempts, c.errors -> -1 AS error
    ),
    logged AS (
      INSERT INTO task_events (task_id, version, type, status, attempt, error)
      SELECT id, version, 'CANCELLED', status, attempts, error FROM changed
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
      finished_at = CASE WHEN c.waiting_parents <= e.n AND w.status = 'CANCELLED' THEN clock_timestamp() END
    FROM e, workflows w
    WHERE c.id = e.id AND c.status = 'BLOCKED' AND w.id = c.workflow_id
    RETURNING c.id, c.version, c.status, c.attempts, c.queue
  ),
  moved AS (SELECT * FROM changed WHERE status <> 'BLOCKED'),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt)
    SELECT id, version, (CASE WHEN status = 'PENDING' THEN 'RELEASED' ELSE 'CANCELLED' END)::task_event_type, status, attempts
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
        -- Parents not SUCCEEDED: the retried step, those coming back with this one, and any still to run.
        waiting_parents = (SELECT count(*) FROM tasks p WHERE p.id = ANY(c.depends_on) AND p.status <> 'SUCCEEDED'),
        version = c.version + 1,
        finished_at = NULL,
        expires_at = NULL
      WHERE c.id = ANY(revived) AND c.status = 'CANCELLED'
      RETURNING c.id, c.version, c.status, c.attempts
    ),
    logged AS (
      INSERT INTO task_events (task_id, version, type, status, attempt)
      SELECT id, version, 'RETRIED', status, attempts FROM changed
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
$fn$;
