-- Workflow rows before step rows (docs/decisions.md "One lock order for task rows",
-- src/queue/sql/workflow-locks.ts). A batch of completions locked its tasks, then the steps trigger
-- (taskwire_workflow_steps_changed, drizzle/0015) locked their workflows and their BLOCKED
-- children; a child cancelled at that moment (cancelTask: the child's row, then in the trigger the
-- workflow) held the child and waited for the workflow the completion held: 40P01, every time
-- (test/queue/workflow-lock-order.test.ts). Now the completion locks the workflows of its steps
-- first (id order, workflows_pkey), and the update waits for that (`wf_locked`, read by a one-time
-- filter before the scan returns its first row), as every statement changing steps does.
--
-- taskwire_complete(…, workflow_ids): the caller names its steps' workflows (a worker knows each
-- task's workflow_id from its claim, and it never changes): a batch of plain tasks passes '{}' and
-- locks nothing, an index scan of an empty array, so the hot path costs what it did. NULL: not
-- known, read from the batch's rows (tasks_pkey) first. The caller's list must hold every workflow
-- of its steps; a wrong one loses nothing (the trigger still locks what it needs) but may deadlock
-- as before.
-- taskwire_complete(…) with four arguments, which workers of an older taskwire call during a
-- rolling deploy, is the same with NULL: it reads the batch's workflows itself.
-- CREATE OR REPLACE FUNCTION and CREATE FUNCTION take no lock on tasks. Otherwise as drizzle/0025
-- (and drizzle/0020 for why a function and why its settings).
CREATE OR REPLACE FUNCTION taskwire_complete(
  completer text, task_ids uuid[], results jsonb, default_ttl_ms bigint, workflow_ids uuid[],
  OUT recorded text, OUT notifications bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off SET enable_seqscan = off
AS $$
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
      finished_at = (SELECT at FROM clock),
      locked_by = NULL,
      lease_expires_at = NULL,
      expires_at = (SELECT at FROM clock) + coalesce(t.result_ttl_ms, default_ttl_ms) * interval '1 millisecond'
    WHERE t.id = ANY(task_ids) AND t.status::text = 'RUNNING' AND t.locked_by = completer
      AND results ? (t.id::text || ':' || t.attempts)
      -- The workflows first (a one-time filter, before the first row is locked).
      AND (SELECT count(*) FROM wf_locked) >= 0
    -- Only what the events need: reading back every result would cost a parse per task for nothing.
    RETURNING t.id, t.version, t.status, t.attempts, t.finished_at
  ),
  logged AS (
    INSERT INTO task_events (task_id, version, type, status, attempt, worker_id, progress, error, at)
    SELECT id, version, 'SUCCEEDED'::task_event_type, status, attempts, completer, NULL, NULL, finished_at
    FROM changed
  ),
  notified AS (
    SELECT pg_notify('taskwire_events', string_agg(id::text || ':' || version || ':' || status, ','))
    FROM (SELECT id, version, status, (row_number() OVER () - 1) / 100 AS chunk FROM changed) c
    GROUP BY chunk
  )
  -- Reading notified makes it run (a read-only CTE nothing reads is skipped).
  SELECT string_agg(id::text, ','), (SELECT count(*) FROM notified) FROM changed
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION taskwire_complete(
  completer text, task_ids uuid[], results jsonb, default_ttl_ms bigint,
  OUT recorded text, OUT notifications bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
  SELECT * FROM taskwire_complete(completer, task_ids, results, default_ttl_ms, NULL::uuid[])
$$;
