CREATE TABLE "schedules" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant" text DEFAULT 'default' NOT NULL,
	"key" text NOT NULL,
	"cron" text NOT NULL,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"task_name" text NOT NULL,
	"args" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"kwargs" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"queue" text DEFAULT 'default' NOT NULL,
	"priority" smallint DEFAULT 0 NOT NULL,
	"max_attempts" integer DEFAULT 1 NOT NULL,
	"timeout_ms" integer,
	"result_ttl_ms" bigint,
	"backoff" jsonb,
	"created_by" text,
	"overlap" text DEFAULT 'ALLOW' NOT NULL,
	"missed" text DEFAULT 'RUN_ONCE' NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"next_run_at" timestamp with time zone,
	"last_run_at" timestamp with time zone,
	"last_task_id" uuid,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "schedules_overlap" CHECK (overlap IN ('ALLOW', 'SKIP')),
	CONSTRAINT "schedules_missed" CHECK (missed IN ('SKIP', 'RUN_ONCE', 'RUN_ALL')),
	CONSTRAINT "schedules_priority_range" CHECK (priority BETWEEN -100 AND 100),
	CONSTRAINT "schedules_args_array" CHECK (jsonb_typeof(args) = 'array'),
	CONSTRAINT "schedules_kwargs_object" CHECK (jsonb_typeof(kwargs) = 'object')
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "scheduled_for" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "schedule_id" uuid;--> statement-breakpoint
CREATE UNIQUE INDEX "schedules_tenant_key_idx" ON "schedules" USING btree ("tenant","key");--> statement-breakpoint
CREATE INDEX "schedules_due_idx" ON "schedules" USING btree ("next_run_at") WHERE NOT paused;--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_schedule_occurrence_idx" ON "tasks" USING btree ("schedule_id","scheduled_for") WHERE schedule_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "tasks_schedule_id_idx" ON "tasks" USING btree ("schedule_id","id") WHERE schedule_id IS NOT NULL;