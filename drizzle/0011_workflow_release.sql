-- Workflow steps (src/queue/workflows, issue 13): what a step's end does, in the statement that
-- records it, whichever path that is (complete, fail, cancel, rescue, a bulk action) and
-- whatever a later path adds. Row-level and guarded by WHEN, so a plain task (workflow_id NULL)
-- costs one NULL test per updated row and never a function call.
--
-- On a step's end (→ SUCCEEDED/FAILED/CANCELLED):
--   1. its workflow row: counters, status, version + 1, NOTIFY taskwire_workflows `id:version:status`;
--   2. retention: a step's result is kept (expires_at NULL) while its workflow runs; when the
--      last step ends, every step's expiry starts (its own TTL, else the workflow's);
--   3. its children: a CANCEL-policy child of a FAILED/CANCELLED step is CANCELLED with a
--      DependencyFailed error, and so on down (one statement, not one trigger level per
--      generation); every other BLOCKED child counts one parent less, and is released
--      (BLOCKED → PENDING, a RELEASED event, a wake-up) at 0.
-- On a step's return from an end (retryTask: → PENDING): the counters again, and the
-- descendants it had cancelled come back (→ BLOCKED, a RETRIED event, their counters
-- recomputed), generation by generation, unless another of their parents failed too.
--
-- Lock order, the same for every transaction: the step(s) its statement changes, then the
-- workflow row, then children in id order; so two steps ending in two transactions wait for
-- each other rather than lose a decrement, and never hold each other's children.
-- Events and NOTIFYs as src/queue/events.ts changeTailSql writes them.
CREATE OR REPLACE FUNCTION taskwire_workflow_step_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  ended boolean := NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
  d_finished int;
  d_succeeded int;
  wf_before workflows%ROWTYPE;
  wf workflows%ROWTYPE;
  frontier uuid[];
BEGIN
  d_finished := CASE WHEN ended THEN 1 ELSE -1 END;
  d_succeeded := CASE WHEN ended AND NEW.status = 'SUCCEEDED' THEN 1
                      WHEN NOT ended AND OLD.status = 'SUCCEEDED' THEN -1 ELSE 0 END;
  SELECT * INTO wf_before FROM workflows WHERE id = NEW.workflow_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  UPDATE workflows w SET
    steps_finished = w.steps_finished + d_finished,
    steps_succeeded = w.steps_succeeded + d_succeeded,
    status = (CASE
      WHEN w.status = 'CANCELLED' AND ended THEN 'CANCELLED'
      WHEN w.steps_finished + d_finished < w.steps_total THEN 'RUNNING'
      WHEN w.steps_succeeded + d_succeeded = w.steps_total THEN 'SUCCEEDED'
      ELSE 'FAILED' END)::workflow_status,
    version = w.version + 1
  WHERE w.id = NEW.workflow_id
  RETURNING w.* INTO wf;
  IF wf.status <> wf_before.status THEN
    UPDATE workflows SET finished_at = CASE WHEN wf.status = 'RUNNING' THEN NULL ELSE clock_timestamp() END
    WHERE id = wf.id RETURNING * INTO wf;
  END IF;
  PERFORM pg_notify('taskwire_workflows', wf.id::text || ':' || wf.version || ':' || wf.status);

  -- Retention.
  IF wf.steps_finished = wf.steps_total THEN
    UPDATE tasks SET expires_at = clock_timestamp() + coalesce(result_ttl_ms, wf.result_ttl_ms) * interval '1 millisecond'
    WHERE workflow_id = wf.id AND status IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
  ELSIF ended AND NEW.expires_at IS NOT NULL THEN
    UPDATE tasks SET expires_at = NULL WHERE id = NEW.id;
  ELSIF NOT ended AND wf_before.steps_finished = wf_before.steps_total THEN
    -- The workflow runs again: the results its steps may read are kept again.
    UPDATE tasks SET expires_at = NULL WHERE workflow_id = wf.id AND expires_at IS NOT NULL;
  END IF;

  IF ended THEN
    IF cardinality(NEW.dependents) = 0 THEN RETURN NULL; END IF;
    PERFORM 1 FROM tasks WHERE id = ANY(NEW.dependents) AND status = 'BLOCKED' ORDER BY id FOR UPDATE;
    IF NEW.status <> 'SUCCEEDED' THEN
      PERFORM taskwire_workflow_cancel_dependents(NEW.id, NEW.step_ref, NEW.status::text);
    END IF;
    WITH changed AS (
      UPDATE tasks c SET
        waiting_parents = c.waiting_parents - 1,
        status = (CASE WHEN c.waiting_parents > 1 THEN 'BLOCKED'
                       WHEN wf.status = 'CANCELLED' THEN 'CANCELLED' ELSE 'PENDING' END)::task_status,
        version = c.version + CASE WHEN c.waiting_parents > 1 THEN 0 ELSE 1 END,
        finished_at = CASE WHEN c.waiting_parents <= 1 AND wf.status = 'CANCELLED' THEN clock_timestamp() END
      WHERE c.id = ANY(NEW.dependents) AND c.status = 'BLOCKED'
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
    SELECT (SELECT count(*) FROM notified) + (SELECT count(*) FROM woken) INTO d_finished;
    RETURN NULL;
  END IF;

  -- Back from an end. A revived step (→ BLOCKED) is handled by the loop of the retried one.
  IF NEW.status = 'BLOCKED' THEN RETURN NULL; END IF;
  frontier := NEW.dependents;
  WHILE cardinality(frontier) > 0 LOOP
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
    SELECT coalesce((SELECT array_agg(DISTINCT d) FROM changed, unnest(changed.dependents) d), '{}'),
           (SELECT count(*) FROM notified)
    INTO frontier, d_finished;
  END LOOP;
  RETURN NULL;
END
$fn$;
--> statement-breakpoint
-- The descendants that a failed (or cancelled) step dooms under the CANCEL policy, in one
-- statement: BLOCKED CANCEL-policy children, their BLOCKED CANCEL-policy children, and so on
-- (every descendant of a BLOCKED step is BLOCKED). Each gets a DependencyFailed error naming
-- its parent (and the step whose end started it). Their own step-end triggers then count
-- them in the workflow and release their RUN_ANYWAY children.
CREATE OR REPLACE FUNCTION taskwire_workflow_cancel_dependents(root uuid, root_ref text, root_status text) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  doomed uuid[];
  n bigint;
BEGIN
  WITH RECURSIVE down(id, via) AS (
    SELECT c.id, root_ref FROM tasks r JOIN tasks c ON c.id = ANY(r.dependents)
    WHERE r.id = root AND c.status = 'BLOCKED' AND c.on_dependency_failure = 'CANCEL'
    UNION
    SELECT c.id, p.step_ref FROM down d JOIN tasks p ON p.id = d.id JOIN tasks c ON c.id = ANY(p.dependents)
    WHERE c.status = 'BLOCKED' AND c.on_dependency_failure = 'CANCEL'
  )
  SELECT array_agg(id ORDER BY id) INTO doomed FROM (SELECT DISTINCT id FROM down) x;
  IF doomed IS NULL THEN RETURN; END IF;
  PERFORM 1 FROM tasks WHERE id = ANY(doomed) AND status = 'BLOCKED' ORDER BY id FOR UPDATE;
  WITH RECURSIVE down(id, via) AS (
    SELECT c.id, root_ref FROM tasks r JOIN tasks c ON c.id = ANY(r.dependents)
    WHERE r.id = root AND c.id = ANY(doomed)
    UNION
    SELECT c.id, p.step_ref FROM down d JOIN tasks p ON p.id = d.id JOIN tasks c ON c.id = ANY(p.dependents)
    WHERE c.id = ANY(doomed)
  ),
  why AS (SELECT DISTINCT ON (id) id, via FROM down ORDER BY id, (via = root_ref) DESC, via),
  changed AS (
    UPDATE tasks c SET
      status = 'CANCELLED',
      version = c.version + 1,
      finished_at = clock_timestamp(),
      errors = c.errors || jsonb_build_array(jsonb_build_object(
        'exceptionType', 'DependencyFailed',
        'message', CASE WHEN why.via = root_ref THEN format('Dependency "%s" %s', root_ref, root_status)
                        ELSE format('Dependency "%s" was cancelled: dependency "%s" %s', why.via, root_ref, root_status) END,
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
END
$fn$;
--> statement-breakpoint
CREATE TRIGGER tasks_workflow_step_changed AFTER UPDATE OF status ON tasks
FOR EACH ROW
WHEN (NEW.workflow_id IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status
      AND (NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') OR OLD.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')))
EXECUTE FUNCTION taskwire_workflow_step_changed();
