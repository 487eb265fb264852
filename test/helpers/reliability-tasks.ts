/**
 * Task definitions for the reliability tests, loaded by worker child processes through
 * TASK_MODULES (and registered in the test process too, so that it can enqueue them).
 * What a handler did is written to the database, where the test reads it; nothing here
 * keeps state in memory that a test would need after a process dies.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { z } from 'zod';
import { exponentialDelayMs } from '../../src/exponential-delay.js';
import { defineTask, type TaskDefinition } from '../../src/worker/define-task.js';

/** Path for TASK_MODULES. */
export const RELIABILITY_TASKS = fileURLToPath(import.meta.url);

let pool: postgres.Sql | undefined;

/**
 * This process's own small pool. Idle connections close fast, so a stopped worker can exit;
 * reconnection backs off no more than taskwire's own pools do (src/db/client.ts), so that after
 * a database restart the handlers are not what the test measures; and it never reads the array
 * types (it uses none), whose read on a reconnection can end the process (src/db/client.ts,
 * fetchTypesOnce): a crash here would be the test's, not taskwire's.
 */
function db(): postgres.Sql {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('reliability-tasks: DATABASE_URL is not set');
  pool ??= postgres(url, {
    max: 4,
    idle_timeout: 0.5,
    onnotice: () => undefined,
    fetch_types: false,
    backoff: (retries: number) => exponentialDelayMs(retries, { baseMs: 50, maxMs: 1000 }) / 1000,
  });
  return pool;
}

/** Tables the handlers write to; the test creates them before starting workers. */
export const RELIABILITY_TABLES_SQL = `
CREATE TABLE IF NOT EXISTS executions (
  task_id uuid NOT NULL, worker_id text NOT NULL, attempt int NOT NULL, pid int NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS blocks (task_id uuid NOT NULL, from_ms float8 NOT NULL, until_ms float8 NOT NULL);`;

/** Waits `ms`, rejecting when `signal` fires (the well-behaved way to spend time). */
function nap(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal });
}

const ms = z.tuple([z.number().int().min(0).max(600_000)]);

/** Sleeps `ms` honouring its signal, then records the completed run: duplicates show as two rows. */
const run = defineTask({
  name: 'rel.run',
  args: ms,
  maxAttempts: 20,
  backoff: { baseMs: 20, maxMs: 200 },
  run: async ([wait], ctx) => {
    await nap(wait, ctx.signal);
    await db()`INSERT INTO executions (task_id, worker_id, attempt, pid) VALUES (${ctx.taskId}, ${ctx.workerId}, ${ctx.attempt}, ${process.pid})`;
    return ctx.attempt;
  },
});

/** Things handlers do that they should not. Each must end in a clear, recorded outcome. */
const misbehaving: TaskDefinition[] = [
  defineTask({
    name: 'rel.throw-string',
    run: () => {
      throw 'a plain string'; // eslint-disable-line no-throw-literal
    },
  }),
  defineTask({
    name: 'rel.throw-undefined',
    run: () => {
      throw undefined; // eslint-disable-line no-throw-literal
    },
  }),
  defineTask({
    name: 'rel.throw-cycle',
    run: () => {
      const thrown: Record<string, unknown> = { reason: 'cyclic' };
      thrown.self = thrown;
      throw thrown;
    },
  }),
  defineTask({ name: 'rel.return-undefined', run: () => undefined }),
  defineTask({ name: 'rel.return-bigint', run: () => ({ total: 2n ** 70n }) }),
  defineTask({
    name: 'rel.return-cycle',
    run: () => {
      const value: Record<string, unknown> = { a: 1 };
      value.self = value;
      return value;
    },
  }),
  defineTask({
    name: 'rel.return-large',
    args: z.tuple([z.number().int().min(0).max(100_000_000)]),
    run: ([size]) => ({ text: 'x'.repeat(size) }),
  }),
  // Leaves a rejected promise without a handler, then succeeds: the process must go on.
  defineTask({
    name: 'rel.stray-rejection',
    run: async (_args, ctx) => {
      void Promise.reject(new Error('stray rejection from a handler'));
      await nap(50, ctx.signal);
      return 'done';
    },
  }),
  // Throws from a timer, outside the handler's promise: the process must stop gracefully.
  defineTask({
    name: 'rel.throw-in-timer',
    run: async (_args, ctx) => {
      setTimeout(() => {
        throw new Error('uncaught in a handler timer');
      }, 10);
      await nap(60_000, ctx.signal);
      return 'never';
    },
  }),
  // Ends the whole process from a handler, as some libraries do.
  defineTask({
    name: 'rel.process-exit',
    run: () => {
      process.exit(3);
    },
  }),
  // Never settles and ignores its AbortSignal: the timeout aborts it, the runner abandons it.
  defineTask({ name: 'rel.hang', timeoutMs: 300, run: () => new Promise<never>(() => undefined) }),
  // Blocks the event loop (no heartbeat can run), then stays RUNNING a little longer, so
  // that a heartbeat after the block is seen while the attempt still holds the task.
  defineTask({
    name: 'rel.block',
    args: z.tuple([z.number().int().min(1).max(10_000), z.number().int().min(0).max(10_000)]),
    run: async ([blockMs, afterMs], ctx) => {
      const from = Date.now();
      while (Date.now() - from < blockMs) {
        // busy: the point is that nothing else in this process runs
      }
      const until = Date.now();
      await db()`INSERT INTO blocks (task_id, from_ms, until_ms) VALUES (${ctx.taskId}, ${from}, ${until})`;
      await nap(afterMs, ctx.signal);
      return { blockedMs: until - from };
    },
  }),
];

/** The soak's mix (see load.soak.test.ts); every kind ends in a status known in advance. */
const soak: TaskDefinition[] = [
  defineTask({ name: 'soak.ok', args: z.tuple([z.number().int()]), run: ([i]) => ({ i }) }),
  // Fails its first two attempts, succeeds on the third.
  defineTask({
    name: 'soak.flaky',
    maxAttempts: 3,
    backoff: { baseMs: 20, maxMs: 100 },
    run: (_args, ctx) => {
      if (ctx.attempt < 3) throw new Error(`flaky attempt ${ctx.attempt}`);
      return { attempt: ctx.attempt };
    },
  }),
  // Always fails: FAILED after two attempts, both errors kept.
  defineTask({
    name: 'soak.fail',
    maxAttempts: 2,
    backoff: { baseMs: 20, maxMs: 100 },
    run: (_args, ctx) => {
      throw new Error(`always fails (attempt ${ctx.attempt})`);
    },
  }),
  // Outlives its timeout (honouring the signal): FAILED with a TimeoutError.
  defineTask({ name: 'soak.timeout', timeoutMs: 50, run: async (_args, ctx) => nap(60_000, ctx.signal) }),
  // Waits to be cancelled (the test cancels it); its own timeout is a safety net that would show as FAILED.
  defineTask({ name: 'soak.cancel', timeoutMs: 60_000, run: async (_args, ctx) => nap(120_000, ctx.signal) }),
  defineTask({
    name: 'soak.progress',
    args: z.tuple([z.number().int().min(1).max(100)]),
    run: async ([steps], ctx) => {
      for (let step = 1; step <= steps; step++) {
        await nap(5, ctx.signal);
        await ctx.progress({ current: step, total: steps, message: `step ${step}` });
      }
      return { steps };
    },
  }),
];

/** Every definition of this module, for the test process's registry. */
export const reliabilityTasks: TaskDefinition[] = [run, ...misbehaving, ...soak];
