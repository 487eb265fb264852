import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  customType,
  boolean,
  check,
  index,
  integer,
  primaryKey,
  json,
  jsonb,
  pgEnum,
  pgTable,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { BULK_ACTION_KINDS, BULK_ACTION_STATUSES, DEPENDENCY_FAILURE_POLICIES, TASK_EVENT_TYPES, TASK_STATUSES, WORKFLOW_STATUSES } from '../states.js';

export const taskStatus = pgEnum('task_status', TASK_STATUSES);
export const taskEventType = pgEnum('task_event_type', TASK_EVENT_TYPES);
export const bulkActionKind = pgEnum('bulk_action_kind', BULK_ACTION_KINDS);
export const bulkActionStatus = pgEnum('bulk_action_status', BULK_ACTION_STATUSES);
export const workflowStatus = pgEnum('workflow_status', WORKFLOW_STATUSES);
export const dependencyFailurePolicy = pgEnum('dependency_failure_policy', DEPENDENCY_FAILURE_POLICIES);

/** PostgreSQL's 64-bit transaction id (pg_current_xact_id()), as text: it never wraps around. */
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * One row per task. Every change bumps `version` and is announced on the events
 * channel in the same transaction (src/queue/events.ts).
 */
export const tasks = pgTable(
  'tasks',
  {
    /** uuid v7, made by the enqueuer, so the primary key is also the newest-first order. */
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    queue: text('queue').notNull().default('default'),
    priority: smallint('priority').notNull().default(0),
    args: jsonb('args').notNull().default(sql`'[]'::jsonb`),
    kwargs: jsonb('kwargs').notNull().default(sql`'{}'::jsonb`),
    status: taskStatus('status').notNull().default('PENDING'),
    version: integer('version').notNull().default(1),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(1),
    /**
     * The attempts the task was enqueued with, kept by its first retry (before it, max_attempts
     * still says so; a retry raises max_attempts): what every retry grants again. NULL until then,
     * so enqueues write nothing more (src/queue/sql/requeue-task.ts).
     */
    attemptBudget: integer('attempt_budget'),
    runAfter: ts('run_after').notNull().defaultNow(),
    enqueuedAt: ts('enqueued_at').notNull().defaultNow(),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    lastAttemptedAt: ts('last_attempted_at'),
    workerIds: text('worker_ids').array().notNull().default(sql`'{}'::text[]`),
    errors: jsonb('errors').notNull().default(sql`'[]'::jsonb`),
    /** A result recorded before drizzle/0042 (or by an older worker's taskwire_complete); see returnValueJson. */
    returnValue: jsonb('return_value'),
    /**
     * The result, as the JSON text the worker encoded (drizzle/0042). json, not jsonb: PostgreSQL
     * parsing a result into jsonb cost ~10x what validating it as json does (~0.5 ms per 10 KB;
     * docs/decisions.md "Results as json"), and nothing filters inside a result. Readers take this
     * column, else return_value. json has no equality operator: compare it as text or jsonb.
     */
    returnValueJson: json('return_value_json'),
    progress: jsonb('progress'),
    lockedBy: text('locked_by'),
    leaseExpiresAt: ts('lease_expires_at'),
    idempotencyKey: text('idempotency_key'),
    expiresAt: ts('expires_at'),
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    /**
     * The claim stamp (`last_attempted_at`) of an attempt claimed ahead of a free slot, until a
     * heartbeat of its worker says it started (then NULL). The attempt counts as claimed ahead only
     * while this equals `last_attempted_at`: the rescuer hands such a task back uncounted
     * (src/queue/sql/rescue-tasks.ts). A stamp, not a flag, so that a value left by an earlier
     * attempt never matches a later claim's, whichever taskwire made it (docs/decisions.md
     * "Claiming ahead").
     */
    claimedAheadAt: ts('claimed_ahead_at'),
    /**
     * Times the rescuer gave the task back uncounted (claimed ahead, not started by its worker's last
     * heartbeat). Once only: a task that starts and kills its worker before the next heartbeat looks
     * the same, and must not run uncounted for ever; its next loss counts.
     */
    aheadGiveBacks: smallint('ahead_give_backs').notNull().default(0),
    /**
     * The feed transaction (task_events.tx) of the task's latest event. Every statement that writes an
     * event sets it to greatest(itself, the statement's transaction id) and gives its event that tx, so
     * a task's versions sort in version order in the feed even when the transaction writing the later
     * one began first (src/queue/events.ts, docs/event-log.md). Null on rows from before 0041: then
     * the event's own transaction id, as before.
     */
    lastEventTx: xid8('last_event_tx').default(sql`pg_current_xact_id()`),
    /** Per-enqueue overrides; null means "the task definition's, else the default". */
    timeoutMs: integer('timeout_ms'),
    resultTtlMs: bigint('result_ttl_ms', { mode: 'number' }),
    backoff: jsonb('backoff'),
    /** Bytes of output written so far, over every attempt: the worker stops at MAX_OUTPUT_BYTES. */
    outputBytes: integer('output_bytes').notNull().default(0),
    /** Whose task it is: only principals of this tenant (or admins) see it (docs/auth.md). */
    tenant: text('tenant').notNull().default('default'),
    /** The principal that enqueued it (API key id, JWT subject); null while auth is off. */
    createdBy: text('created_by'),
    /** Whose turn it shares (e.g. a customer id): the queue's perKeyConcurrency caps RUNNING tasks per key (docs/flow-control.md). */
    concurrencyKey: text('concurrency_key'),
    /**
     * Workflow steps (src/queue/workflows). All null/empty for a plain task: the trigger that
     * releases dependents (drizzle/*_workflow_release.sql) fires only WHEN workflow_id IS NOT NULL.
     */
    workflowId: uuid('workflow_id'),
    stepRef: text('step_ref'),
    /** Parent task ids (the step's dependsOn), in the order given. */
    dependsOn: uuid('depends_on').array().notNull().default(sql`'{}'::uuid[]`),
    /** Child task ids: what the end of this step releases, read straight from its row (no edge index to walk). */
    dependents: uuid('dependents').array().notNull().default(sql`'{}'::uuid[]`),
    /** Parents that have not ended yet: decremented under this row's lock as each ends; BLOCKED → PENDING at 0. */
    waitingParents: integer('waiting_parents'),
    onDependencyFailure: dependencyFailurePolicy('on_dependency_failure'),
    /** The occurrence a schedule's task was enqueued for (src/queue/schedules); null for a plain task or a manual trigger. */
    scheduledFor: ts('scheduled_for'),
    /** The schedule that enqueued it. No foreign key: deleting a schedule leaves its tasks as they are. */
    scheduleId: uuid('schedule_id'),
  },
  (t) => [
    // The claim query (src/queue/sql/claim-tasks.ts) walks this in order and stops at LIMIT.
    index('tasks_claim_idx')
      .on(t.priority.desc(), t.runAfter, t.id)
      .where(sql`status IN ('PENDING', 'RETRYING')`),
    // Filtered keyset pagination, newest first (src/queue/list.ts); plain `id` uses the primary key.
    // Status: partial, so that a task's success (RUNNING → SUCCEEDED, most tasks' last change) writes
    // no entry here; each non-HOT update wrote one (docs/decisions.md "Storage layout"). A SUCCEEDED
    // filter walks the primary key: it is the status of most of the history.
    index('tasks_status_not_succeeded_idx').on(t.status, t.id).where(sql`status <> 'SUCCEEDED'`),
    index('tasks_name_id_idx').on(t.name, t.id),
    index('tasks_queue_id_idx').on(t.queue, t.id),
    // A tenant's tasks, newest first (src/queue/list.ts with a tenant scope). Partial: the tasks of
    // 'default' (DEFAULT_TENANT: every task of a deployment without tenants) get no entry, and that
    // tenant's list walks the primary key. An entry per task cost each claim and each completion an
    // index write, ~15 % of PostgreSQL's time in a drain (docs/decisions.md, "No tenant index entry
    // for the default tenant"). `tenant = $1`, planned with its value, matches the predicate.
    index('tasks_tenant_not_default_idx').on(t.tenant, t.id).where(sql`tenant <> 'default'`),
    // The rescuer (src/queue/maintenance/rescuer.ts) looks only at running tasks.
    index('tasks_lease_idx').on(t.leaseExpiresAt).where(sql`status = 'RUNNING'`),
    // Waiting tasks per queue in claim order. While some queue is paused or limited, the claim
    // (src/queue/sql/claim-tasks.ts) walks the distinct waiting queues (skip scan) and takes each
    // one's first tasks from here, so that a held queue's backlog is never scanned to be skipped;
    // limited claims of one queue walk it too (claim-limited-tasks.ts).
    index('tasks_queue_claim_idx')
      .on(t.queue, t.priority.desc(), t.runAfter, t.id)
      .where(sql`status IN ('PENDING', 'RETRYING')`),
    // RUNNING tasks per queue and key: the limited claim counts them under the queue's lock
    // (src/queue/queue-control/sql/claim-limited-tasks.ts), and waitReason reads the counts.
    index('tasks_running_queue_key_idx')
      .on(t.queue, t.concurrencyKey)
      .where(sql`status = 'RUNNING'`),
    // Waiting keyed tasks by queue and key, in claim order: the per-key claim walks the distinct
    // keys of a queue (skip scan) and takes each key's first tasks. Partial: keyless tasks cost nothing.
    index('tasks_key_claim_idx')
      .on(t.queue, t.concurrencyKey, t.priority.desc(), t.runAfter, t.id)
      .where(sql`status IN ('PENDING', 'RETRYING') AND concurrency_key IS NOT NULL`),
    // A workflow's steps (src/queue/workflows). Partial: plain tasks cost no index write.
    index('tasks_workflow_idx').on(t.workflowId, t.id).where(sql`workflow_id IS NOT NULL`),
    // One task per schedule occurrence, whatever happens: the scheduler's insert (src/queue/schedules/sql/fire-schedules.ts)
    // says ON CONFLICT on it. Partial: plain tasks cost no index write. A manual trigger has no scheduled_for (NULLs never collide).
    uniqueIndex('tasks_schedule_occurrence_idx').on(t.scheduleId, t.scheduledFor).where(sql`schedule_id IS NOT NULL`),
    // A schedule's runs, newest first (Schedules.runs).
    index('tasks_schedule_id_idx').on(t.scheduleId, t.id).where(sql`schedule_id IS NOT NULL`),
    // The cleaner (src/queue/maintenance/cleaner.ts).
    index('tasks_expires_idx').on(t.expiresAt).where(sql`expires_at IS NOT NULL`),
    // Partial: most tasks have no key, and an entry for each NULL cost every insert an index write.
    // An ON CONFLICT on it must repeat the predicate to infer it (src/queue/sql/insert-tasks.ts).
    // Keys are unique per tenant: two tenants may use the same key without seeing each other.
    uniqueIndex('tasks_idempotency_key_idx').on(t.tenant, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    check('tasks_priority_range', sql`priority BETWEEN -100 AND 100`),
    check('tasks_max_attempts_positive', sql`max_attempts >= 1`),
    check('tasks_args_array', sql`jsonb_typeof(args) = 'array'`),
    check('tasks_kwargs_object', sql`jsonb_typeof(kwargs) = 'object'`),
  ],
);

export type TaskRow = typeof tasks.$inferSelect;

/**
 * The event log: one row per visible change of a task, written by the same statement that
 * makes the change (src/queue/event-log.ts), so it commits and rolls back with it. `version`
 * is the task's version after the change: 1 = ENQUEUED, then 2, 3, … with no gap. Rows are
 * deleted with their task by the cleaner (no foreign key: its check would cost every change a
 * lookup and a row lock on tasks; nothing else deletes tasks).
 */
export const taskEvents = pgTable(
  'task_events',
  {
    taskId: uuid('task_id').notNull(),
    version: integer('version').notNull(),
    type: taskEventType('type').notNull(),
    /** The task's status right after this event. */
    status: taskStatus('status').notNull(),
    at: ts('at').notNull().default(sql`clock_timestamp()`),
    attempt: integer('attempt').notNull(),
    workerId: text('worker_id'),
    progress: jsonb('progress'),
    error: jsonb('error'),
    output: jsonb('output'),
    /**
     * The writing transaction and a global sequence: the feed's position is (tx, seq). A
     * sequence value alone commits out of order; reading only below the oldest running
     * transaction (pg_snapshot_xmin) makes the order by (tx, seq) final (src/queue/event-feed.ts).
     */
    tx: xid8('tx').notNull().default(sql`pg_current_xact_id()`),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
  },
  (t) => [
    // A task's log in order, and resuming it after a version (src/queue/event-log.ts).
    primaryKey({ name: 'task_events_pkey', columns: [t.taskId, t.version] }),
    // The global feed in its final order (src/queue/event-feed.ts).
    index('task_events_feed_idx').on(t.tx, t.seq),
  ],
);

export type TaskEventRow = typeof taskEvents.$inferSelect;

/**
 * API keys (`taskwire keys create`). Only a SHA-256 of the secret is stored: a key is 32 random
 * bytes, so a slow hash would add nothing but latency to every request (src/auth/api-keys.ts).
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    /** uuid v7; the public part of the key, also the principal id that logs and `Task.createdBy` show. */
    id: uuid('id').primaryKey(),
    tenant: text('tenant').notNull(),
    scopes: text('scopes').array().notNull(),
    /** A label for people (`keys list`). */
    name: text('name'),
    /** hex SHA-256 of the secret part. */
    secretHash: text('secret_hash').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    revokedAt: ts('revoked_at'),
    expiresAt: ts('expires_at'),
  },
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;

/** Values a deployment's processes share and make once, e.g. the read-token secret when READ_TOKEN_SECRET is unset. */
export const settings = pgTable('taskwire_settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

/**
 * Bulk actions (cancelTasks / retryTasks, src/queue/bulk-actions). Every change bumps `version`
 * and is announced on the `taskwire_bulk` channel in the same statement.
 */
export const bulkActions = pgTable(
  'bulk_actions',
  {
    /** uuid v7, made by the creator. */
    id: uuid('id').primaryKey(),
    tenant: text('tenant').notNull(),
    createdBy: text('created_by'),
    kind: bulkActionKind('kind').notNull(),
    status: bulkActionStatus('status').notNull().default('RUNNING'),
    /** The TaskFilter it was created with (as given, for people; the targets are fixed in bulk_action_tasks). */
    filter: jsonb('filter').notNull(),
    /** Tasks it acts on: those matching when it was created. */
    matched: integer('matched').notNull(),
    /** Of those, how many were looked at (changed or found in a state it leaves alone). */
    processed: integer('processed').notNull().default(0),
    /** Of those, how many it changed (cancelled, cancel requested, retried). */
    changed: integer('changed').notNull().default(0),
    version: integer('version').notNull().default(1),
    createdAt: ts('created_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
    /** Why it FAILED. */
    error: text('error'),
  },
  (t) => [
    // The runners look only at running actions.
    index('bulk_actions_running_idx').on(t.id).where(sql`status = 'RUNNING'`),
  ],
);

export type BulkActionRow = typeof bulkActions.$inferSelect;

/**
 * The tasks a bulk action has still to process: filled by one INSERT … SELECT when the action is
 * created (so exactly the tasks matching then), and a row is deleted by the statement that
 * processes its task, so the change and the mark commit together. No foreign keys: the check
 * would cost each of 100,000 rows a lookup, and nothing deletes actions or their rows otherwise.
 */
export const bulkActionTasks = pgTable(
  'bulk_action_tasks',
  {
    actionId: uuid('action_id').notNull(),
    taskId: uuid('task_id').notNull(),
  },
  // Batches are taken in task order per action (src/queue/bulk-actions/sql/process-bulk-batch.ts).
  (t) => [primaryKey({ name: 'bulk_action_tasks_pkey', columns: [t.actionId, t.taskId] })],
);

/**
 * Flow control per queue name (docs/flow-control.md): deployment-wide, shared by every tenant.
 * A row exists once a queue was paused or limited (a queue with no row runs unlimited). Every
 * change bumps `version` and is announced on the jobs channel in the same statement.
 */
export const queues = pgTable(
  'queues',
  {
    name: text('name').primaryKey(),
    paused: boolean('paused').notNull().default(false),
    pausedAt: ts('paused_at'),
    /** Most RUNNING tasks of the queue at once (claimed-ahead ones included); null: no limit. */
    concurrency: integer('concurrency'),
    /** Most starts per window of `rate_per_ms` ms (fixed windows aligned to the epoch); null: no limit. */
    rateMax: integer('rate_max'),
    ratePerMs: integer('rate_per_ms'),
    /** Most RUNNING tasks per concurrency key at once; null: no limit. */
    perKeyConcurrency: integer('per_key_concurrency'),
    /** The rate window the count below belongs to: floor(epoch ms / rate_per_ms). Written by the limited claim only. */
    rateWindow: bigint('rate_window', { mode: 'number' }),
    rateCount: integer('rate_count').notNull().default(0),
    /** The last key the per-key claim served: the next claim starts after it (round-robin). */
    keyCursor: text('key_cursor'),
    version: integer('version').notNull().default(1),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  () => [
    check('queues_concurrency_positive', sql`concurrency IS NULL OR concurrency >= 1`),
    check('queues_per_key_positive', sql`per_key_concurrency IS NULL OR per_key_concurrency >= 1`),
    check('queues_rate_pair', sql`(rate_max IS NULL) = (rate_per_ms IS NULL) AND (rate_max IS NULL OR (rate_max >= 1 AND rate_per_ms >= 1))`),
  ],
);

export type QueueRow = typeof queues.$inferSelect;

/**
 * Workflows (src/queue/workflows): a graph of tasks (tasks.workflow_id). The step counters are
 * kept by the step-end trigger under this row's lock, so the status needs no scan of the steps.
 * Every change bumps `version` and is announced on `taskwire_workflows` in the same statement.
 */
export const workflows = pgTable(
  'workflows',
  {
    /** uuid v7, made by the enqueuer. */
    id: uuid('id').primaryKey(),
    tenant: text('tenant').notNull().default('default'),
    name: text('name'),
    status: workflowStatus('status').notNull().default('RUNNING'),
    version: integer('version').notNull().default(1),
    idempotencyKey: text('idempotency_key'),
    createdBy: text('created_by'),
    stepsTotal: integer('steps_total').notNull(),
    /** Steps in a terminal state (SUCCEEDED, FAILED, CANCELLED). */
    stepsFinished: integer('steps_finished').notNull().default(0),
    stepsSucceeded: integer('steps_succeeded').notNull().default(0),
    createdAt: ts('created_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
  },
  (t) => [
    // Idempotency per tenant, as for tasks; partial: most workflows have no key.
    uniqueIndex('workflows_idempotency_key_idx').on(t.tenant, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    index('workflows_tenant_id_idx').on(t.tenant, t.id),
  ],
);

export type WorkflowRow = typeof workflows.$inferSelect;

/**
 * Cron schedules (src/queue/schedules). Fired by the scheduler of every worker process, with no
 * leader: one statement claims a due row (FOR UPDATE SKIP LOCKED, at the version its plan was
 * computed from), inserts its occurrences' tasks and advances next_run_at. Every change bumps `version`.
 */
export const schedules = pgTable(
  'schedules',
  {
    /** uuid v7. */
    id: uuid('id').primaryKey(),
    tenant: text('tenant').notNull().default('default'),
    /** Unique per tenant: what people and code name the schedule by. */
    key: text('key').notNull(),
    /** 5 fields, or 6 with seconds first. */
    cron: text('cron').notNull(),
    /** IANA time zone of the cron's wall clock. */
    timezone: text('timezone').notNull().default('UTC'),
    /** The task each occurrence enqueues, its options resolved at upsert (input, else the definition's). */
    taskName: text('task_name').notNull(),
    args: jsonb('args').notNull().default(sql`'[]'::jsonb`),
    kwargs: jsonb('kwargs').notNull().default(sql`'{}'::jsonb`),
    queue: text('queue').notNull().default('default'),
    priority: smallint('priority').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(1),
    timeoutMs: integer('timeout_ms'),
    resultTtlMs: bigint('result_ttl_ms', { mode: 'number' }),
    backoff: jsonb('backoff'),
    /** Each occurrence's concurrency_key (null: none), so a queue's perKeyConcurrency holds for scheduled tasks too. */
    concurrencyKey: text('concurrency_key'),
    /** The principal that last upserted it; its tasks carry it as created_by. */
    createdBy: text('created_by'),
    /** ALLOW | SKIP (text with a CHECK, not an enum: a new value needs no migration of its own). */
    overlap: text('overlap').notNull().default('ALLOW'),
    /** SKIP | RUN_ONCE | RUN_ALL. */
    missed: text('missed').notNull().default('RUN_ONCE'),
    paused: boolean('paused').notNull().default(false),
    /** The next occurrence to fire (null: the cron has none). Stale while paused: resume recomputes it. */
    nextRunAt: ts('next_run_at'),
    lastRunAt: ts('last_run_at'),
    lastTaskId: uuid('last_task_id'),
    version: integer('version').notNull().default(1),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('schedules_tenant_key_idx').on(t.tenant, t.key),
    // The scheduler's due scan and its min(next_run_at) (src/queue/schedules/sql/fire-schedules.ts).
    index('schedules_due_idx').on(t.nextRunAt).where(sql`NOT paused`),
    check('schedules_overlap', sql`overlap IN ('ALLOW', 'SKIP')`),
    check('schedules_missed', sql`missed IN ('SKIP', 'RUN_ONCE', 'RUN_ALL')`),
    check('schedules_priority_range', sql`priority BETWEEN -100 AND 100`),
    check('schedules_args_array', sql`jsonb_typeof(args) = 'array'`),
    check('schedules_kwargs_object', sql`jsonb_typeof(kwargs) = 'object'`),
  ],
);

export type ScheduleRow = typeof schedules.$inferSelect;
