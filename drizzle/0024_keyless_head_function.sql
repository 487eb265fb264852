-- The first waiting keyless tasks of one queue (issue 17): the per-key claim's look for tasks
-- without a concurrency key (src/queue/queue-control/sql/claim-limited-tasks.ts, claimPerKey), which
-- take a turn beside the keys. No index holds keyless waiting tasks alone (every task of every queue
-- would pay an entry), so the look walks the queue's head of tasks_queue_claim_idx and skips keyed
-- tasks, stopping at `lim`. Written inline, with statistics the planner expected few keyless rows and
-- took a sequential scan of the whole table and a sort (every queue's tasks and the history, on
-- every per-key claim: 2,223 blocks at 100,000 tasks and growing with the history). Bitmap scans,
-- sequential scans and sorts are off for the body (as in taskwire_queue_head, drizzle/0023), and the
-- queue is a range that leads the order, so that walk is the only plan left. STABLE: it reads with
-- the claim statement's snapshot (nothing is locked here; the claim locks what it picks).
CREATE OR REPLACE FUNCTION taskwire_keyless_head(q text, lim int) RETURNS TABLE (id uuid, priority smallint, run_after timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 10
SET enable_bitmapscan = off SET enable_seqscan = off SET enable_sort = off
AS $$
  SELECT t.id, t.priority, t.run_after FROM tasks t
  WHERE t.queue >= q AND t.queue <= q AND t.concurrency_key IS NULL
    AND t.status IN ('PENDING', 'RETRYING') AND t.run_after <= now()
  ORDER BY t.queue, t.priority DESC NULLS LAST, t.run_after, t.id
  LIMIT lim
$$;
