import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { TASK_STATUSES } from '../queue/states.js';

export const taskStatus = pgEnum('task_status', TASK_STATUSES);

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
    runAfter: ts('run_after').notNull().defaultNow(),
    enqueuedAt: ts('enqueued_at').notNull().defaultNow(),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    lastAttemptedAt: ts('last_attempted_at'),
    workerIds: text('worker_ids').array().notNull().default(sql`'{}'::text[]`),
    errors: jsonb('errors').notNull().default(sql`'[]'::jsonb`),
    returnValue: jsonb('return_value'),
    progress: jsonb('progress'),
    lockedBy: text('locked_by'),
    leaseExpiresAt: ts('lease_expires_at'),
    idempotencyKey: text('idempotency_key'),
    expiresAt: ts('expires_at'),
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    /** Per-enqueue overrides; null means "the task definition's, else the default". */
    timeoutMs: integer('timeout_ms'),
    resultTtlMs: bigint('result_ttl_ms', { mode: 'number' }),
    backoff: jsonb('backoff'),
  },
  (t) => [
    // The claim query (src/queue/sql/claim-tasks.ts) walks this in order and stops at LIMIT.
    index('tasks_claim_idx')
      .on(t.priority.desc(), t.runAfter, t.id)
      .where(sql`status IN ('PENDING', 'RETRYING')`),
    // Filtered keyset pagination, newest first (src/queue/list.ts); plain `id` uses the primary key.
    index('tasks_status_id_idx').on(t.status, t.id),
    index('tasks_name_id_idx').on(t.name, t.id),
    index('tasks_queue_id_idx').on(t.queue, t.id),
    // The rescuer (src/queue/maintenance/rescuer.ts) looks only at running tasks.
    index('tasks_lease_idx').on(t.leaseExpiresAt).where(sql`status = 'RUNNING'`),
    // The cleaner (src/queue/maintenance/cleaner.ts).
    index('tasks_expires_idx').on(t.expiresAt).where(sql`expires_at IS NOT NULL`),
    // Partial: most tasks have no key, and an entry for each NULL cost every insert an index write.
    // An ON CONFLICT on it must repeat the predicate to infer it (src/queue/sql/insert-tasks.ts).
    uniqueIndex('tasks_idempotency_key_idx').on(t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    check('tasks_priority_range', sql`priority BETWEEN -100 AND 100`),
    check('tasks_max_attempts_positive', sql`max_attempts >= 1`),
    check('tasks_args_array', sql`jsonb_typeof(args) = 'array'`),
    check('tasks_kwargs_object', sql`jsonb_typeof(kwargs) = 'object'`),
  ],
);

export type TaskRow = typeof tasks.$inferSelect;
