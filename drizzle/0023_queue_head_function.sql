-- The first waiting tasks of one queue, locked (issue 17): taskwire_queue_head(q, lim) is the
-- per-queue probe of a claim that goes queue by queue (src/queue/sql/claim-tasks.ts: a worker of
-- some queues, or any worker while a queue is held), and it must read only that queue's head of
-- tasks_queue_claim_idx (queue, priority DESC NULLS LAST, run_after, id WHERE status IN
-- PENDING/RETRYING), whatever the planner knows. Written inline as `queue = q` it took, after about
-- one ANALYZE in seven, tasks_claim_idx (every queue in claim order) filtered by queue, walking
-- other queues' backlogs (~100,000 blocks behind 50,000 paused tasks); written as a range that
-- leads the order (which tasks_claim_idx cannot give) it took, with statistics and a large limit,
-- a bitmap scan of the whole queue and a sort (~50,000 rows for a claim of 500). Here both hold:
-- the range, and bitmap scans, sequential scans and sorts off for the body (as in
-- taskwire_claim_order, drizzle/0016), so the one plan left is that index's head, stopping at `lim`.
CREATE OR REPLACE FUNCTION taskwire_queue_head(q text, lim int) RETURNS TABLE (id uuid, priority smallint, run_after timestamptz)
LANGUAGE sql VOLATILE PARALLEL UNSAFE ROWS 10
SET enable_bitmapscan = off SET enable_seqscan = off SET enable_sort = off
AS $$
  SELECT t.id, t.priority, t.run_after FROM tasks t
  WHERE t.queue >= q AND t.queue <= q AND t.status IN ('PENDING', 'RETRYING') AND t.run_after <= now()
  ORDER BY t.queue, t.priority DESC NULLS LAST, t.run_after, t.id
  LIMIT lim
  FOR UPDATE OF t SKIP LOCKED
$$;
