-- Built CONCURRENTLY outside the migration transaction (issue 17: no write lock on a tasks that holds data).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "tasks_queue_claim_idx" ON "tasks" USING btree ("queue","priority" DESC NULLS LAST,"run_after","id") WHERE status IN ('PENDING', 'RETRYING');
