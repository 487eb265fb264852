import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { uuidv7 } from '../../src/queue/uuid.js';
import type { Executor, Sql } from '../../src/db/client.js';
import type { Deps } from '../../src/deps.js';
import { EVENTS_CHANNEL, type TaskEvent } from '../../src/queue/events.js';
import { getTask } from '../../src/queue/get.js';
import type { JsonObject, JsonValue } from '../../src/queue/json.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { completeTasks } from '../../src/queue/sql/complete-tasks.js';
import { failTasks } from '../../src/queue/sql/fail-tasks.js';
import { finishCancelledTask } from '../../src/queue/sql/finish-cancelled-task.js';
import { insertTasks } from '../../src/queue/sql/insert-tasks.js';
import { requestCancel } from '../../src/queue/sql/request-cancel.js';
import type { TaskStatus } from '../../src/queue/states.js';
import type { Backoff, Task } from '../../src/queue/task.js';
import type { TaskDefinition } from '../../src/worker/define-task.js';
import { createTestApp, type TestApp } from './app.js';
import { expectFeedOrderedLogs } from './event-log.js';
import { recordEvents, type EventRecorder } from './events.js';
import { waitFor } from './wait.js';

export { abortReasons, executionOrder, releaseStubborn, testTasks } from './test-tasks.js';

// ---- tasks in a given state ------------------------------------------------------------------

/** What a factory task looks like; every field has a default fitting its `status`. */
export interface TaskSpec {
  /** Default PENDING. */
  status?: TaskStatus;
  /** Default `demo.echo` (no definition is needed: nothing here runs it). */
  name?: string;
  queue?: string;
  priority?: number;
  args?: JsonValue[];
  kwargs?: JsonObject;
  /** Attempts made so far. Default: 0 for PENDING and CANCELLED (cancelled while waiting), else 1. */
  attempts?: number;
  /** Default: `attempts` (at least 1); RETRYING: `attempts + 1`, so one is left. */
  maxAttempts?: number;
  /** PENDING only: when it is due (default now). */
  runAfter?: Date;
  idempotencyKey?: string;
  timeoutMs?: number;
  /** Retention after finishing, in ms (default: `defaultTtlMs`); 0: expired as it finishes. */
  resultTtlMs?: number;
  backoff?: Partial<Backoff>;
  /** The worker of every attempt (default `test-worker`). */
  workerId?: string;
  /** RUNNING: lease length from now, in ms (default 30,000); negative: a lease already run out. */
  leaseMs?: number;
  /** RUNNING: its cancellation was asked for (cancelRequested, the worker told). */
  cancelRequested?: boolean;
  /** SUCCEEDED: what the handler returned (default null). */
  returnValue?: JsonValue;
  /** The error each failed attempt records (default `Error: attempt N failed`). */
  error?: { exceptionType?: string; message?: string };
  /** RETRYING: due again after this many ms (default one hour: out of a runner's reach). */
  retryDelayMs?: number;
  /** Retention of a task without resultTtlMs, in ms (default 86,400,000, RESULT_TTL_MS's default). */
  defaultTtlMs?: number;
  /** Default `default`. */
  tenant?: string;
  /** Who enqueued it (default null). */
  createdBy?: string;
  /** The task's concurrency key (docs/flow-control.md). */
  concurrencyKey?: string;
}

/**
 * A task in `spec.status`, with what that state implies (attempts, worker ids, errors,
 * startedAt/finishedAt, lease, expiresAt, returnValue), made by the statements that make it in
 * production, so its versions, its event log (task_events) and its notifications are those of
 * a real life:
 *   PENDING    insertTasks
 *   RUNNING    + claimTasks (lease `leaseMs` from now: negative gives an expired one)
 *              + requestCancel when `cancelRequested`
 *   SUCCEEDED  + claimTasks, completeTasks
 *   RETRYING   + claimTasks, failTasks with a delay (attempts left)
 *   FAILED     + claimTasks, failTasks with none
 *   CANCELLED  + requestCancel; after `attempts` attempts: claimTasks, requestCancel, finishCancelledTask
 * Attempts before the last are claimed and failed with no delay. No state here needs a direct
 * UPDATE; what does (times in the past that the statements set from the clock) is
 * setEnqueuedAt below.
 * `sql` must be a pool with two free connections (see claimOne). A runner polling the same
 * queue meanwhile may claim the task first: insertTask then throws.
 */
export async function insertTask(sql: Sql, spec: TaskSpec = {}): Promise<Task> {
  const status = spec.status ?? 'PENDING';
  const attempts = spec.attempts ?? (status === 'PENDING' || status === 'CANCELLED' ? 0 : 1);
  const maxAttempts = spec.maxAttempts ?? (status === 'RETRYING' ? attempts + 1 : Math.max(1, attempts));
  const workerId = spec.workerId ?? 'test-worker';
  const defaultTtlMs = spec.defaultTtlMs ?? 86_400_000;
  checkSpec(status, attempts, maxAttempts, spec);

  const id = uuidv7();
  await insertTasks(sql, [
    {
      id,
      name: spec.name ?? 'demo.echo',
      queue: spec.queue ?? 'default',
      priority: spec.priority ?? 0,
      args: JSON.stringify(spec.args ?? []),
      kwargs: JSON.stringify(spec.kwargs ?? {}),
      maxAttempts,
      runAfter: spec.runAfter?.toISOString() ?? null,
      idempotencyKey: spec.idempotencyKey ?? null,
      timeoutMs: spec.timeoutMs ?? null,
      resultTtlMs: spec.resultTtlMs ?? null,
      backoff: spec.backoff ? { ...spec.backoff } as Backoff : null,
      tenant: spec.tenant ?? 'default',
      createdBy: spec.createdBy ?? null,
      concurrencyKey: spec.concurrencyKey ?? null,
    },
  ]);
  const queue = spec.queue ?? 'default';
  const fail = (attempt: number, retryDelayMs: number | null) =>
    failTasks(sql, workerId, [{ id, attempt, error: encodeError(spec, attempt, workerId), retryDelayMs }], defaultTtlMs);

  // Earlier attempts: each claimed and failed, due again at once.
  for (let attempt = 1; attempt < attempts; attempt++) {
    await claimOne(sql, id, queue, workerId, 60_000);
    await fail(attempt, 0);
  }
  if (attempts > 0) await claimOne(sql, id, queue, workerId, status === 'RUNNING' ? (spec.leaseMs ?? 30_000) : 60_000);
  switch (status) {
    case 'PENDING':
      break;
    case 'RUNNING':
      if (spec.cancelRequested) await requestCancel(sql, { id, defaultTtlMs });
      break;
    case 'SUCCEEDED':
      await completeTasks(sql, workerId, [{ id, attempt: attempts, returnValue: JSON.stringify(spec.returnValue ?? null) }], defaultTtlMs);
      break;
    case 'RETRYING':
      await fail(attempts, spec.retryDelayMs ?? 3_600_000);
      break;
    case 'FAILED':
      await fail(attempts, null);
      break;
    case 'CANCELLED':
      await requestCancel(sql, { id, defaultTtlMs });
      if (attempts > 0) await finishCancelledTask(sql, { id, attempt: attempts, workerId, error: null, defaultTtlMs });
      break;
  }
  const task = await getTask(sql, id);
  if (task?.status !== status) throw new Error(`insertTask: wanted ${status}, made ${task?.status ?? 'nothing'} (${id})`);
  return task;
}

/** Refuses a spec no real life leads to, rather than making something else. */
function checkSpec(status: TaskStatus, attempts: number, maxAttempts: number, spec: TaskSpec): void {
  const refuse = (why: string): never => {
    throw new Error(`insertTask(${JSON.stringify({ status, attempts, maxAttempts })}): ${why}`);
  };
  if (status === 'PENDING' && attempts !== 0) refuse('a PENDING task has made no attempt');
  if (status !== 'PENDING' && status !== 'CANCELLED' && attempts < 1) refuse(`a ${status} task has made an attempt`);
  if (status === 'RETRYING' && attempts >= maxAttempts) refuse('a RETRYING task has an attempt left');
  if (attempts > maxAttempts) refuse('attempts cannot exceed maxAttempts');
  if (status !== 'PENDING' && spec.runAfter && spec.runAfter.getTime() > Date.now()) refuse('a task due later cannot have been claimed');
}

/** A failed attempt's error as failTasks stores it. */
function encodeError(spec: TaskSpec, attempt: number, workerId: string): string {
  const { exceptionType = 'Error', message = `attempt ${attempt} failed` } = spec.error ?? {};
  return JSON.stringify({ exceptionType, message, traceback: null, attempt, at: new Date().toISOString(), workerId });
}

/**
 * Claims task `id` with the real claim statement. That statement takes the most urgent waiting
 * tasks of a queue, not a given one; so the others waiting in the queue are locked meanwhile from
 * a second connection, and the claim's SKIP LOCKED passes over them (and over rows a runner holds).
 */
async function claimOne(sql: Sql, id: string, queue: string, workerId: string, leaseMs: number): Promise<void> {
  const claimed = await sql.begin(async (others) => {
    await others`SELECT id FROM tasks WHERE queue = ${queue} AND status IN ('PENDING', 'RETRYING') AND id <> ${id} FOR UPDATE SKIP LOCKED`;
    return claimTasks(sql, { workerId, limit: 1, queues: [queue], leaseMs });
  });
  if (claimed[0]?.id !== id) throw new Error(`insertTask: could not claim ${id} (a runner took it, or it is not due)`);
}

/**
 * Fallback, a direct UPDATE: places a task at a fixed enqueue time (and makes it due then), which
 * no statement does — they take the time from the clock. Not a visible change: no version, no event.
 */
export async function setEnqueuedAt(exec: Executor, id: string, at: Date): Promise<void> {
  await exec`UPDATE tasks SET enqueued_at = ${at}, run_after = ${at} WHERE id = ${id}`;
}

// ---- the core test app ---------------------------------------------------------------------------

/** The core's test app: createTestApp (app.ts) with CORE_RUNNER defaults and no server. */
export type QueueTestApp = TestApp;

/** createTestApp({ env, tasks: extraTasks }), as the core and worker tests call it. */
export function createQueueTestApp(env: Record<string, string> = {}, extraTasks: TaskDefinition[] = []): Promise<QueueTestApp> {
  return createTestApp({ env, tasks: extraTasks });
}

export interface QueueTestContext {
  /** The file's app (a private database with the test tasks), made once for the file. */
  readonly app: QueueTestApp;
  /** Records the events of the current test; fresh for each test. */
  readonly recorder: EventRecorder;
}

/**
 * The set-up most core test files share: one QueueTestApp per file, an event recorder per
 * test, every runner stopped after each test (a leaked runner is a failure), and each task's
 * events checked to be in feed order at the end (expectFeedOrderedLogs).
 * Call at the top of a file; read `.app` / `.recorder` inside tests.
 */
export function useQueueTestApp(): QueueTestContext {
  let app: QueueTestApp | undefined;
  let recorder: EventRecorder | undefined;
  beforeAll(async () => {
    app = await createQueueTestApp();
  });
  afterAll(async () => {
    try {
      // Whatever the file's tests did, each task's events are in feed order (src/queue/events.ts).
      if (app) await expectFeedOrderedLogs(app.sql);
    } finally {
      await app?.close();
    }
  });
  beforeEach(async () => {
    recorder = await recordEvents((app as QueueTestApp).sql);
  });
  afterEach(async () => {
    await app?.stopRunners();
    await recorder?.close();
  });
  return {
    get app() {
      return app as QueueTestApp;
    },
    get recorder() {
      return recorder as EventRecorder;
    },
  };
}


// ---- waiting and counting -----------------------------------------------------------------------

/** Rows in `tasks`: error paths must leave this unchanged. */
export async function countTasks(exec: Executor): Promise<number> {
  const [row] = await exec`SELECT count(*)::int AS count FROM tasks`;
  return Number(row?.count);
}

/** Polls until the task has one of `statuses` (deadline 10 s); returns it. */
export function waitForStatus(deps: Deps, id: string, statuses: TaskStatus | TaskStatus[], timeoutMs = 10_000): Promise<Task> {
  const wanted = Array.isArray(statuses) ? statuses : [statuses];
  return waitFor(
    async () => {
      const task = await deps.queue.getTask(id);
      return task && wanted.includes(task.status) ? task : undefined;
    },
    { timeoutMs, message: `task ${id} to be ${wanted.join('/')}` },
  );
}

/**
 * Waits until every notification committed so far has reached `recorder`: sends a marker
 * on the events channel and waits for it. PostgreSQL delivers notifications in commit
 * order, so anything committed before the marker has arrived once the marker has.
 */
export async function flushEvents(recorder: EventRecorder, sql: Sql): Promise<void> {
  const marker = randomUUID();
  await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${`${marker}:1:PENDING`})`;
  await recorder.waitFor((e) => e.id === marker);
}

/** The events recorded for one task, after flushing everything committed so far. */
export async function eventsOf(recorder: EventRecorder, sql: Sql, id: string): Promise<Omit<TaskEvent, 'id'>[]> {
  await flushEvents(recorder, sql);
  return recorder.events.filter((e) => e.id === id).map(({ version, status }) => ({ version, status }));
}


/**
 * Waits until heartbeats have pushed the leases `workerId` holds `ms` past where they stand now:
 * time has passed with that worker alive and heartbeating. It marks the window in which a test
 * checks that something does NOT happen, by the worker's own activity rather than the clock.
 */
export async function heartbeatsFor(exec: Executor, workerId: string, ms: number): Promise<void> {
  const leaseEnd = async (): Promise<number> => {
    const [row] = await exec`SELECT max(lease_expires_at) AS at FROM tasks WHERE status = 'RUNNING' AND locked_by = ${workerId}`;
    return row?.at ? new Date(row.at as string | Date).getTime() : Number.NaN;
  };
  const from = await leaseEnd();
  if (Number.isNaN(from)) throw new Error(`worker ${workerId} holds no lease`);
  await waitFor(async () => (await leaseEnd()) >= from + ms, { message: `heartbeats of ${workerId} to push its leases ${ms} ms on` });
}
