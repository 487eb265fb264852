/**
 * A scheduler in its own process, for the schedule kill test and the bench:
 * `node --import tsx test/helpers/scheduler-process.ts`, configured from the environment like a
 * worker (DATABASE_URL, SCHEDULE_CATCH_UP_MAX, SCHEDULER_POLL_INTERVAL_MS …). Logs warnings and
 * errors as JSON lines on stderr (a parent counts unique-violation errors there); sends
 * `{type: 'ready', pid}` over IPC once it listens; SIGTERM stops it, and it exits by itself.
 */
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/db/client.js';
import { createLogger } from '../../src/logger.js';
import { createScheduler } from '../../src/queue/schedules/scheduler.js';

export type SchedulerMessage = { type: 'ready'; pid: number };

const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
if (!config.databaseUrl) throw new Error('scheduler-process: DATABASE_URL is required');
const log = createLogger('warn');
const db = createDb(config.databaseUrl, { max: config.dbPoolSize });
const scheduler = createScheduler({
  sql: db.sql,
  log,
  catchUpMax: config.scheduler.catchUpMax,
  pollIntervalMs: config.scheduler.pollIntervalMs,
  misfireGraceMs: config.scheduler.misfireGraceMs,
});
await scheduler.start();
process.send?.({ type: 'ready', pid: process.pid } satisfies SchedulerMessage);

process.once('SIGTERM', () => {
  void (async () => {
    await scheduler.stop();
    await db.close();
    process.disconnect?.();
  })();
});
