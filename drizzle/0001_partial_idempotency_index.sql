DROP INDEX "tasks_idempotency_key_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_idempotency_key_idx" ON "tasks" USING btree ("idempotency_key") WHERE idempotency_key IS NOT NULL;