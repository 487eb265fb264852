CREATE TYPE "public"."bulk_action_kind" AS ENUM('CANCEL', 'RETRY');--> statement-breakpoint
CREATE TYPE "public"."bulk_action_status" AS ENUM('RUNNING', 'DONE', 'FAILED');--> statement-breakpoint
CREATE TABLE "bulk_action_tasks" (
	"action_id" uuid NOT NULL,
	"task_id" uuid NOT NULL,
	CONSTRAINT "bulk_action_tasks_pkey" PRIMARY KEY("action_id","task_id")
);
--> statement-breakpoint
CREATE TABLE "bulk_actions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant" text NOT NULL,
	"created_by" text,
	"kind" "bulk_action_kind" NOT NULL,
	"status" "bulk_action_status" DEFAULT 'RUNNING' NOT NULL,
	"filter" jsonb NOT NULL,
	"matched" integer NOT NULL,
	"processed" integer DEFAULT 0 NOT NULL,
	"changed" integer DEFAULT 0 NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"error" text
);
--> statement-breakpoint
CREATE INDEX "bulk_actions_running_idx" ON "bulk_actions" USING btree ("id") WHERE status = 'RUNNING';