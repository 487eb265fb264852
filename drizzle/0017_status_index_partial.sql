-- Outside the transaction (CONCURRENTLY, docs/decisions.md "Migrations without long locks"): no
-- writer waits for the build on a tasks table that holds data. The new index is built before the
-- old one goes, so status filters always have one.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "tasks_status_not_succeeded_idx" ON "tasks" USING btree ("status","id") WHERE status <> 'SUCCEEDED';
--> statement-breakpoint
DROP INDEX CONCURRENTLY IF EXISTS "tasks_status_id_idx";
