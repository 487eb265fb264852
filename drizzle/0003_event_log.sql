CREATE TYPE "public"."task_event_type" AS ENUM('ENQUEUED', 'STARTED', 'PROGRESS', 'OUTPUT', 'RETRY_SCHEDULED', 'SUCCEEDED', 'FAILED', 'CANCEL_REQUESTED', 'CANCELLED', 'RESCUED', 'RELEASED', 'RETRIED');--> statement-breakpoint
CREATE TABLE "task_events" (
	"task_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"type" "task_event_type" NOT NULL,
	"status" "task_status" NOT NULL,
	"at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"attempt" integer NOT NULL,
	"worker_id" text,
	"progress" jsonb,
	"error" jsonb,
	"output" jsonb,
	"tx" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"seq" bigserial NOT NULL,
	CONSTRAINT "task_events_pkey" PRIMARY KEY("task_id","version")
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "output_bytes" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "task_events_feed_idx" ON "task_events" USING btree ("tx","seq");