import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { z } from 'zod';
import { loadConfig, type Config } from '../../src/config.js';
import type { Executor, Sql } from '../../src/db/client.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';
import { EVENTS_CHANNEL, type TaskEvent } from '../../src/queue/events.js';
import type { TaskStatus } from '../../src/queue/states.js';
import type { Task } from '../../src/queue/task.js';
import { defineTask, type TaskDefinition } from '../../src/worker/define-task.js';
import { exampleTasks } from '../../src/worker/examples.js';
import { createRegistry } from '../../src/worker/registry.js';
import type { Runner, RunnerOptions } from '../../src/worker/runner.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { recordEvents, type EventRecorder } from './events.js';
import { waitFor } from './wait.js';

/** Abort reasons seen by `test.block` handlers, by task id: proof that the AbortSignal fired. */
export const abortReasons = new Map<string, unknown>();
/** Task ids in the order `test.record` ran them. */
export const executionOrder: string[] = [];
/** Gates that `test.stubborn` waits on, by `taskId:attempt`; `releaseStubborn()` opens them. */
const gates = new Map<string, () => void>();

/** Opens every gate a `test.stubborn` handler waits on (so none outlives its test); says how many. */
export function releaseStubborn(only?: { taskId: string; attempt: number }): number {
  const keys = only ? [`${only.taskId}:${only.attempt}`].filter((k) => gates.has(k)) : [...gates.keys()];
  for (const key of keys) {
    gates.get(key)?.();
    gates.delete(key);
  }
  return keys.length;
}

/** Values a handler can return that JSON/PostgreSQL cannot store. */
const badResults: Record<string, () => unknown> = {
  bigint: () => ({ total: 10n }),
  cycle: () => {
    const value: Record<string, unknown> = { a: 1 };
    value.self = value;
    return value;
  },
  nul: () => ({ text: 'a\u0000b' }),
  surrogate: () => ({ text: 'broken \ud800 pair' }),
  toJsonThrows: () => ({
    toJSON() {
      throw new Error('no JSON for you');
    },
  }),
  large: () => ({ text: 'x'.repeat(2000) }),
  nan: () => ({ value: Number.NaN }),
};

/** Things a handler can throw that are not Errors. */
const badThrows: Record<string, () => unknown> = {
  string: () => 'plain string thrown',
  undefined: () => undefined,
  cycle: () => {
    const value: Record<string, unknown> = { reason: 'cyclic' };
    value.self = value;
    return value;
  },
  nulMessage: () => new Error('bad \u0000 byte'),
};

/** Task definitions only the tests use, next to the built-in examples. */
export const testTasks: TaskDefinition[] = [
  // Blocks until its AbortSignal fires (timeout, cancel, shutdown), then rethrows the abort.
  defineTask({
    name: 'test.block',
    run: (_args, ctx) =>
      new Promise((_resolve, reject) => {
        const onAbort = () => {
          abortReasons.set(ctx.taskId, ctx.signal.reason);
          reject(new DOMException('aborted', 'AbortError'));
        };
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
      }),
  }),
  // Ignores its AbortSignal; waits until the test opens its gate, then returns (or throws: args ['fail']).
  defineTask({
    name: 'test.stubborn',
    run: (args, ctx) =>
      new Promise<string>((resolve, reject) =>
        gates.set(`${ctx.taskId}:${ctx.attempt}`, () =>
          args[0] === 'fail' ? reject(new Error('failed after all')) : resolve(`finally done (attempt ${ctx.attempt})`),
        ),
      ),
  }),
  // Returns a value that cannot be stored, chosen by name (see badResults).
  defineTask({
    name: 'test.return',
    args: z.tuple([z.enum(Object.keys(badResults) as [string, ...string[]])]),
    run: ([kind]) => (badResults[kind] as () => unknown)(),
  }),
  // Throws something that is not an Error, chosen by name (see badThrows).
  defineTask({
    name: 'test.throw',
    args: z.tuple([z.enum(Object.keys(badThrows) as [string, ...string[]])]),
    run: ([kind]) => {
      throw (badThrows[kind] as () => unknown)();
    },
  }),
  // Fails its first attempt, succeeds on the next.
  defineTask({
    name: 'test.fail-once',
    run: (_args, ctx) => {
      if (ctx.attempt === 1) throw new Error('first attempt fails');
      return { attempt: ctx.attempt };
    },
  }),
  // Records the order in which tasks ran.
  defineTask({
    name: 'test.record',
    run: (_args, ctx) => {
      executionOrder.push(ctx.taskId);
      return null;
    },
  }),
];

export interface QueueTestApp {
  database: TestDatabase;
  deps: Deps;
  config: Config;
  sql: Sql;
  /** A runner with test-friendly defaults (poll 50 ms); stopped by `stopRunners()`/`close()`. */
  runner(overrides?: Partial<RunnerOptions>): Runner;
  /** Stops every runner made by `runner()`; fails if one still has running tasks afterwards. */
  stopRunners(): Promise<void>;
  close(): Promise<void>;
}

/** A private database and deps whose registry holds the examples, `testTasks` and `extraTasks`. */
export async function createQueueTestApp(env: Record<string, string> = {}, extraTasks: TaskDefinition[] = []): Promise<QueueTestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const registry = createRegistry([...exampleTasks, ...testTasks, ...extraTasks]);
  const deps = await createDeps(config, { databaseUrl: database.url, log: silentLogger, registry });
  const runners: Runner[] = [];
  const stopRunners = async (): Promise<void> => {
    releaseStubborn();
    const all = runners.splice(0);
    await Promise.all(all.map((r) => r.stop()));
    for (const r of all) if (r.running !== 0) throw new Error(`runner ${r.workerId} still runs ${r.running} tasks after stop()`);
  };
  return {
    database,
    deps,
    config,
    sql: deps.db.sql,
    runner(overrides = {}) {
      const r = deps.createRunner({ pollIntervalMs: 50, concurrency: 4, abandonAfterMs: 200, ...overrides });
      runners.push(r);
      return r;
    },
    stopRunners,
    async close() {
      await stopRunners();
      await deps.close();
      await database.drop();
    },
  };
}

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

/** Sets columns directly, e.g. to place tasks at fixed enqueue times. Test set-up only. */
export async function setEnqueuedAt(exec: Executor, id: string, at: Date): Promise<void> {
  await exec`UPDATE tasks SET enqueued_at = ${at}, run_after = ${at} WHERE id = ${id}`;
}

export interface QueueTestContext {
  /** The file's app (a private database with the test tasks), made once for the file. */
  readonly app: QueueTestApp;
  /** Records the events of the current test; fresh for each test. */
  readonly recorder: EventRecorder;
}

/**
 * The set-up most core test files share: one QueueTestApp per file, an event recorder per
 * test, and every runner stopped after each test (a leaked runner is a failure).
 * Call at the top of a file; read `.app` / `.recorder` inside tests.
 */
export function useQueueTestApp(): QueueTestContext {
  let app: QueueTestApp | undefined;
  let recorder: EventRecorder | undefined;
  beforeAll(async () => {
    app = await createQueueTestApp();
  });
  afterAll(async () => {
    await app?.close();
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
