-- Statistics of which names run on which queues (docs/decisions.md "History lists: correlated
-- filters"). Names and queues are correlated (a name usually runs on one or two queues), and the
-- planner multiplied their selectivities: for a name and a queue that never meet it expected
-- thousands of rows, walked tasks_pkey newest first for the 21 of a page, and read the whole table
-- (3-7 s at a million tasks, DBA audit). With the pairs' frequencies (an MCV list) it expects what
-- the pair has, and a rare pair is read through tasks_name_id_idx (or a BitmapAnd with
-- tasks_queue_id_idx) and sorted.
-- CREATE STATISTICS takes a SHARE UPDATE EXCLUSIVE lock for a moment (reads and writes go on); the
-- statistics are gathered by the next ANALYZE (autovacuum's, or `ANALYZE tasks` at once).
CREATE STATISTICS IF NOT EXISTS tasks_name_queue_stats (mcv) ON name, queue FROM tasks;
