CREATE TYPE "public"."dependency_failure_policy" AS ENUM('CANCEL', 'RUN_ANYWAY');--> statement-breakpoint
CREATE TYPE "public"."workflow_status" AS ENUM('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED');--> statement-breakpoint
CREATE TABLE "workflows" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant" text DEFAULT 'default' NOT NULL,
	"name" text,
	"status" "workflow_status" DEFAULT 'RUNNING' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"idempotency_key" text,
	"created_by" text,
	"steps_total" integer NOT NULL,
	"steps_finished" integer DEFAULT 0 NOT NULL,
	"steps_succeeded" integer DEFAULT 0 NOT NULL,
	"result_ttl_ms" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "workflow_id" uuid;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "step_ref" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "depends_on" uuid[] DEFAULT '{}'::uuid[] NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "dependents" uuid[] DEFAULT '{}'::uuid[] NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "waiting_parents" integer;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "on_dependency_failure" "dependency_failure_policy";--> statement-breakpoint
CREATE UNIQUE INDEX "workflows_idempotency_key_idx" ON "workflows" USING btree ("tenant","idempotency_key") WHERE idempotency_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX "workflows_tenant_id_idx" ON "workflows" USING btree ("tenant","id");--> statement-breakpoint
CREATE INDEX "tasks_workflow_idx" ON "tasks" USING btree ("workflow_id","id") WHERE workflow_id IS NOT NULL;