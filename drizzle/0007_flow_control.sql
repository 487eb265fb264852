CREATE TABLE "queues" (
	"name" text PRIMARY KEY NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"paused_at" timestamp with time zone,
	"concurrency" integer,
	"rate_max" integer,
	"rate_per_ms" integer,
	"per_key_concurrency" integer,
	"rate_window" bigint,
	"rate_count" integer DEFAULT 0 NOT NULL,
	"key_cursor" text,
	"version" integer DEFAULT 1 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "queues_concurrency_positive" CHECK (concurrency IS NULL OR concurrency >= 1),
	CONSTRAINT "queues_per_key_positive" CHECK (per_key_concurrency IS NULL OR per_key_concurrency >= 1),
	CONSTRAINT "queues_rate_pair" CHECK ((rate_max IS NULL) = (rate_per_ms IS NULL) AND (rate_max IS NULL OR (rate_max >= 1 AND rate_per_ms >= 1)))
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "concurrency_key" text;--> statement-breakpoint
CREATE INDEX "tasks_running_queue_key_idx" ON "tasks" USING btree ("queue","concurrency_key") WHERE status = 'RUNNING';--> statement-breakpoint
CREATE INDEX "tasks_key_claim_idx" ON "tasks" USING btree ("queue","concurrency_key","priority" DESC NULLS LAST,"run_after","id") WHERE status IN ('PENDING', 'RETRYING') AND concurrency_key IS NOT NULL;