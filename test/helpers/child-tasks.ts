/**
 * Task definitions for worker child processes (loaded through TASK_MODULES; see
 * worker-process.ts). Their state lives in the database, where the test can read it.
 */
import postgres from 'postgres';
import { defineTask } from '../../src/worker/define-task.js';

let pool: postgres.Sql | undefined;

/**
 * A small pool of this process's own, opened on first use from DATABASE_URL. Idle
 * connections close after half a second, so they do not hold a stopped worker open.
 */
function db(): postgres.Sql {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('child-tasks: DATABASE_URL is not set');
  pool ??= postgres(url, { max: 4, idle_timeout: 0.5, onnotice: () => undefined });
  return pool;
}

/** The table `child.record` writes to; the test creates it before starting workers. */
export const EXECUTIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS executions (
  task_id uuid NOT NULL, worker_id text NOT NULL, attempt int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`;

/** Records each execution (one row per run of the handler): proof of exactly-once runs. */
export const record = defineTask({
  name: 'child.record',
  run: async (_args, ctx) => {
    await db()`INSERT INTO executions (task_id, worker_id, attempt, pid) VALUES (${ctx.taskId}, ${ctx.workerId}, ${ctx.attempt}, ${process.pid})`;
    return ctx.attempt;
  },
});

/** First attempt: hangs, ignoring its signal, until the process dies. Later attempts succeed. */
export const hangFirst = defineTask({
  name: 'child.hang-first',
  run: async (_args, ctx) => {
    if (ctx.attempt === 1) await new Promise<never>(() => undefined);
    return { recoveredBy: ctx.workerId, attempt: ctx.attempt };
  },
});

/** Sleeps `ms`, honouring its signal: a task still running when a graceful stop begins. */
export const nap = defineTask({
  name: 'child.nap',
  run: async (args, ctx) => {
    const ms = typeof args[0] === 'number' ? args[0] : 100;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('aborted'))), { once: true });
    });
    return { napped: ms };
  },
});
