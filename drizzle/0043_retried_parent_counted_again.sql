-- A retried step's BLOCKED children wait for it again (a tester's find, session 49). A RUN_ANYWAY child
-- still waiting for another parent had counted the failed parent's end (part 3 takes one off
-- waiting_parents per parent that ends); retryTask or a bulk retry of that parent did not count it
-- back, so its next end took it off a second time, and the child was released while its other parent
-- still ran, reading null for it (and the workflow could end SUCCEEDED on that). Part 4 now first
-- brings each BLOCKED child of a step back from an end up to its parents not ended. Otherwise as
-- drizzle/0041's. CREATE OR REPLACE FUNCTION takes no lock on tasks.
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
  back uuid[];
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
  -- to end). Their BLOCKED children (RUN_ANYWAY ones, which a failure does not cancel) counted the
  -- end the retry undid, and would count its next end too: each waits again for every parent not
  -- ended. At least that many, not exactly: a child a bulk retry brought back a batch earlier counted
  -- this parent already (requeue-task.ts, retriedLater), and may count others the action retries later.
  SELECT array_agg(id) INTO back FROM tasks WHERE id = ANY(ids) AND status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
  IF back IS NOT NULL THEN
    PERFORM 1 FROM tasks
    WHERE id IN (SELECT unnest(dependents) FROM tasks WHERE id = ANY(back)) AND status = 'BLOCKED'
    ORDER BY id FOR UPDATE;
    UPDATE tasks c SET
      waiting_parents = greatest(c.waiting_parents,
        (SELECT count(*) FROM tasks p WHERE p.id = ANY(c.depends_on) AND p.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')))
    WHERE c.id IN (SELECT unnest(dependents) FROM tasks WHERE id = ANY(back)) AND c.status = 'BLOCKED';
  END IF;

  -- Then which descendants come back, generation by generation, reading only (a step
  -- comes back once none of its parents is FAILED or CANCELLED but for those coming back with it);
  -- then all of them in one statement. The revived ones' own statement (nested, below) walks from
  -- them again and finds nothing left to revive: one read of their children.
  SELECT array_agg(DISTINCT child) INTO frontier
  FROM tasks p, unnest(p.dependents) AS child
  WHERE p.id = ANY(back);
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
