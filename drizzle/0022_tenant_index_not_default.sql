-- Outside the transaction (CONCURRENTLY, docs/decisions.md "Migrations without long locks"): no
-- writer waits for the build on a tasks table that holds data. The new index is built before the
-- old one goes, so a tenant's list always has one. The tasks of 'default' get no entry (docs/decisions.md,
-- "No tenant index entry for the default tenant").
CREATE INDEX CONCURRENTLY IF NOT EXISTS "tasks_tenant_not_default_idx" ON "tasks" USING btree ("tenant","id") WHERE tenant <> 'default';
--> statement-breakpoint
DROP INDEX CONCURRENTLY IF EXISTS "tasks_tenant_id_idx";
