-- Workflow steps, release per statement (replaces the row-level trigger of 0011, which cost a
-- workflow-row and a child-row version per ended step: a batch of 100 completions of a chord
-- wrote 100 versions of each, and slowed to 4 ms a step). Now:
--   * a BEFORE UPDATE OF status row trigger, guarded by WHEN workflow_id IS NOT NULL (a plain
--     task never calls it), notes each step entering or leaving an end in
--     workflow_step_changes and raises a transaction-local flag;
--   * an AFTER UPDATE OF status statement trigger, guarded by WHEN the flag is up (evaluated
--     without a function call, so a statement that changed no step costs nothing), takes this
--     transaction's notes and does in a few set-based statements what the statement's ends do:
--     1. each workflow touched: counters, status, version + 1 once, one NOTIFY
--        taskwire_workflows `id:version:status` for the statement;
--     2. the CANCEL-policy descendants of failed/cancelled steps: CANCELLED with a
--        DependencyFailed error naming the parent (and the step that failed), however deep,
--        in one statement;
--     3. every other BLOCKED child counts its ended parents less (by how many ended in the
--        statement), under its row lock; at 0 it is released (BLOCKED → PENDING, a RELEASED
--        event, NOTIFY on the events channel, a wake-up on the jobs channel), or CANCELLED
--        when its workflow was cancelled;
--     4. steps back from an end (retryTask → PENDING): the descendants their end had cancelled
--        with DependencyFailed return to BLOCKED (a RETRIED event, parent counts recomputed),
--        generation by generation, unless another of their parents failed too.
--   Changes these make to steps fire the same triggers again (nested), which is how a cancelled
--   descendant's RUN_ANYWAY children are counted down.
-- Lock order, the same in every transaction: the statement's own rows, then workflows in id
-- order, then children in id order. Two steps ending in two transactions wait for each other
-- on the child's row lock rather than lose a decrement.
-- Events and NOTIFYs as src/queue/events.ts changeTailSql writes them.
DROP TRIGGER IF EXISTS tasks_workflow_step_changed ON tasks;
--> statement-breakpoint
DROP FUNCTION IF EXISTS taskwire_workflow_step_changed();
--> statement-breakpoint
DROP FUNCTION IF EXISTS taskwire_workflow_cancel_dependents(uuid, text, text);
--> statement-breakpoint
-- Notes of one transaction's step changes, taken (deleted) by the statement trigger of the
-- statement that made them: empty between statements. Unlogged: nothing in it outlives a transaction.
CREATE UNLOGGED TABLE workflow_step_changes (
  tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
  task_id uuid NOT NULL,
  old_status task_status NOT NULL,
  new_status task_status NOT NULL
);
--> statement-breakpoint
CREATE INDEX workflow_step_changes_tx_idx ON workflow_step_changes (tx);
--> statement-breakpoint
CREATE FUNCTION taskwire_workflow_step_noted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO workflow_step_changes (task_id, old_status, new_status) VALUES (NEW.id, OLD.status, NEW.status);
  PERFORM set_config('taskwire.workflow_steps_changed', 'on', true);
  RETURN NEW;
END
$fn$;
--> statement-breakpoint
CREATE FUNCTION taskwire_workflow_steps_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  ids uuid[];
  frontier uuid[];
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
  WITH RECURSIVE down(id, via, root_ref, root_status) AS (
    SELECT c.id, p.step_ref, p.step_ref, p.status::text
    FROM tasks p JOIN workflows w ON w.id = p.workflow_id AND w.status <> 'CANCELLED'
    JOIN tasks c ON c.id = ANY(p.dependents)
    WHERE p.id = ANY(ids) AND p.status IN ('FAILED', 'CANCELLED') AND c.status = 'BLOCKED' AND c.on_dependency_failure = 'CANCEL'
    UNION
    SELECT c.id, p.step_ref, d.root_ref, d.root_status
    FROM down d JOIN tasks p ON p.id = d.id JOIN tasks c ON c.id = ANY(p.dependents)
    WHERE c.status = 'BLOCKED' AND c.on_dependency_failure = 'CANCEL'
  )
  SELECT array_agg(DISTINCT id) INTO doomed FROM down;
  IF doomed IS NOT NULL THEN
    PERFORM 1 FROM tasks WHERE id = ANY(doomed) AND status = 'BLOCKED' ORDER BY id FOR UPDATE;
    WITH RECURSIVE down(id, via, root_ref, root_status) AS (
      SELECT c.id, p.step_ref, p.step_ref, p.status::text
      FROM tasks p JOIN tasks c ON c.id = ANY(p.dependents)
      WHERE p.id = ANY(ids) AND p.status IN ('FAILED', 'CANCELLED') AND c.id = ANY(doomed)
      UNION
      SELECT c.id, p.step_ref, d.root_ref, d.root_status
      FROM down d JOIN tasks p ON p.id = d.id JOIN tasks c ON c.id = ANY(p.dependents)
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

  -- 4. Steps back from an end by a retry (not revived ones, → BLOCKED, whose notes are theirs).
  SELECT array_agg(DISTINCT child) INTO frontier
  FROM tasks p, unnest(p.dependents) AS child
  WHERE p.id = ANY(ids) AND p.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'BLOCKED');
  WHILE frontier IS NOT NULL LOOP
    PERFORM 1 FROM tasks WHERE id = ANY(frontier) AND status = 'CANCELLED' ORDER BY id FOR UPDATE;
    WITH changed AS (
      UPDATE tasks c SET
        status = 'BLOCKED',
        waiting_parents = (SELECT count(*) FROM tasks p WHERE p.id = ANY(c.depends_on)
                            AND p.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')),
        version = c.version + 1,
        finished_at = NULL,
        expires_at = NULL
      WHERE c.id = ANY(frontier) AND c.status = 'CANCELLED'
        AND c.errors -> -1 ->> 'exceptionType' = 'DependencyFailed'
        AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.id = ANY(c.depends_on) AND p.status IN ('FAILED', 'CANCELLED'))
      RETURNING c.id, c.version, c.status, c.attempts, c.dependents
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
    SELECT (SELECT array_agg(DISTINCT d) FROM changed, unnest(changed.dependents) d), (SELECT count(*) FROM notified)
    INTO frontier, n;
  END LOOP;
  RETURN NULL;
END
$fn$;
--> statement-breakpoint
CREATE TRIGGER tasks_workflow_step_noted BEFORE UPDATE OF status ON tasks
FOR EACH ROW
WHEN (NEW.workflow_id IS NOT NULL
      AND (NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) <> (OLD.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')))
EXECUTE FUNCTION taskwire_workflow_step_noted();
--> statement-breakpoint
CREATE TRIGGER tasks_workflow_steps_changed AFTER UPDATE OF status ON tasks
FOR EACH STATEMENT
WHEN (current_setting('taskwire.workflow_steps_changed', true) = 'on')
EXECUTE FUNCTION taskwire_workflow_steps_changed();
