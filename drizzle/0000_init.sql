CREATE TYPE "public"."task_status" AS ENUM('PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED');--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"queue" text DEFAULT 'default' NOT NULL,
	"priority" smallint DEFAULT 0 NOT NULL,
	"args" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"kwargs" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"status" "task_status" DEFAULT 'PENDING' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer DEFAULT 1 NOT NULL,
	"run_after" timestamp with time zone DEFAULT now() NOT NULL,
	"enqueued_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"last_attempted_at" timestamp with time zone,
	"worker_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	"errors" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"return_value" jsonb,
	"progress" jsonb,
	"locked_by" text,
	"lease_expires_at" timestamp with time zone,
	"idempotency_key" text,
	"expires_at" timestamp with time zone,
	"cancel_requested" boolean DEFAULT false NOT NULL,
	"timeout_ms" integer,
	"result_ttl_ms" bigint,
	"backoff" jsonb,
	CONSTRAINT "tasks_priority_range" CHECK (priority BETWEEN -100 AND 100),
	CONSTRAINT "tasks_max_attempts_positive" CHECK (max_attempts >= 1),
	CONSTRAINT "tasks_args_array" CHECK (jsonb_typeof(args) = 'array'),
	CONSTRAINT "tasks_kwargs_object" CHECK (jsonb_typeof(kwargs) = 'object')
);
--> statement-breakpoint
CREATE INDEX "tasks_claim_idx" ON "tasks" USING btree ("priority" DESC NULLS LAST,"run_after","id") WHERE status IN ('PENDING', 'RETRYING');--> statement-breakpoint
CREATE INDEX "tasks_status_id_idx" ON "tasks" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "tasks_name_id_idx" ON "tasks" USING btree ("name","id");--> statement-breakpoint
CREATE INDEX "tasks_queue_id_idx" ON "tasks" USING btree ("queue","id");--> statement-breakpoint
CREATE INDEX "tasks_lease_idx" ON "tasks" USING btree ("lease_expires_at") WHERE status = 'RUNNING';--> statement-breakpoint
CREATE INDEX "tasks_expires_idx" ON "tasks" USING btree ("expires_at") WHERE expires_at IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_idempotency_key_idx" ON "tasks" USING btree ("idempotency_key");