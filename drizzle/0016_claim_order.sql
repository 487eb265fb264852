-- The claim's pick, in claim order, whatever the planner knows about tasks (issue 17). On a table
-- never analyzed the planner guesses ~90 waiting tasks, so a claim of more than that is planned
-- as "read them all": a bitmap scan of every waiting task and a sort (425 ms for 500 of 100,000),
-- and with statistics a large LIMIT can pick a sequential scan and a sort. Walking
-- tasks_claim_idx in order and stopping at the limit is always right for this query, so the
-- function is planned with bitmap scans, sequential scans and sorts off (SET applies to its own
-- statement only; a SET clause also keeps it from being inlined, which would drop the settings).
-- `held`: paused or limited queues, left out; `queues`: only these (empty: all).
CREATE OR REPLACE FUNCTION taskwire_claim_order(queues text[], held text[], lim int) RETURNS SETOF uuid
LANGUAGE sql VOLATILE PARALLEL UNSAFE ROWS 100
SET enable_bitmapscan = off SET enable_seqscan = off SET enable_sort = off
AS $$
  SELECT id FROM tasks
  WHERE status IN ('PENDING', 'RETRYING') AND run_after <= now()
    AND (cardinality(queues) = 0 OR queue = ANY(queues))
    AND queue <> ALL (held)
  ORDER BY priority DESC NULLS LAST, run_after, id
  LIMIT lim
  FOR UPDATE SKIP LOCKED
$$;
