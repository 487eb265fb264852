import type { Config } from './config.js';
import { createDb, type Db } from './db/client.js';
import type { Logger } from './logger.js';
import { createQueue, type Queue } from './queue/index.js';
import { createBulkActionRunner, type BulkActionRunner } from './queue/bulk-actions/runner.js';
import { createScheduler, type Scheduler } from './queue/schedules/scheduler.js';
import { createCleaner, type Cleaner } from './queue/maintenance/cleaner.js';
import { createRescuer, type Rescuer } from './queue/maintenance/rescuer.js';
import { createDatabaseClock, type DatabaseClock } from './db/database-clock.js';
import { assertMigrated } from './db/doctor.js';
import { requireDatabaseUrl } from './db/migrate.js';
import { taskRegistry, type Registry } from './worker/registry.js';
import { createRunner, type Runner, type RunnerOptions } from './worker/runner.js';
import { stopServices } from './service.js';

/** A clock this far from the database's (ms) is said at start: doctor's warning line. */
const CLOCK_WARN_MS = 1000;

/** Everything a process needs, wired once. Nothing here starts work; callers start what they run. */
export interface Deps {
  config: Config;
  log: Logger;
  db: Db;
  registry: Registry;
  queue: Queue;
  createRunner(overrides?: Partial<RunnerOptions>): Runner;
  rescuer: Rescuer;
  cleaner: Cleaner;
  /** Works bulk actions (cancelTasks/retryTasks); every process with maintenance runs one. */
  bulkActionRunner: BulkActionRunner;
  /** Fires cron schedules; every process with maintenance runs one (SCHEDULER_ENABLED), with no leader. */
  scheduler: Scheduler;
  /** The database's clock, what expiries and other shared deadlines are judged by (src/db/database-clock.ts). */
  clock: DatabaseClock;
  /**
   * Stops every part made here that still runs — the runners from createRunner (gracefully, as
   * their stop() does), the scheduler, the bulk action runner, the cleaner and the rescuer — then
   * closes the pool and the LISTEN connection. Parts already stopped are left as they are.
   */
  close(): Promise<void>;
}

/**
 * Wires a process's parts on `p.databaseUrl`; the task definitions are `p.registry`, else those of
 * TASK_MODULES (the built-in examples without it).
 * @throws ConfigError when `p.databaseUrl` is empty, TASK_MODULES cannot be loaded, or the database
 * lacks migrations this version ships (run migrateDatabase first; one that cannot be read passes).
 */
export async function createDeps(config: Config, p: { databaseUrl: string; log: Logger; registry?: Registry }): Promise<Deps> {
  requireDatabaseUrl(p.databaseUrl, 'createDeps');
  const registry = p.registry ?? (await taskRegistry(config.taskModules));
  // DATABASE_LISTEN_URL: DATABASE_URL is a transaction pooler's; LISTEN goes direct (src/db/client.ts).
  const db = createDb(p.databaseUrl, {
    max: config.dbPoolSize,
    idleTimeoutMs: config.dbIdleTimeoutMs,
    lockTimeoutMs: config.dbLockTimeoutMs,
    ...(config.databaseListenUrl ? { listenUrl: config.databaseListenUrl } : {}) });
  try {
    await assertMigrated(db.sql);
  } catch (error) {
    await db.close();
    throw error;
  }
  // Said at start when this process's clock is more than a second off the database's, and again
  // whenever a later reading (once a minute, as asked) finds it has gone off or come back.
  let off = false;
  const clock = createDatabaseClock(db.sql, {
    onRead: (reading) => {
      const size = Math.abs(reading.offsetMs);
      const fields = { clockOffsetMs: Math.round(reading.offsetMs), rttMs: Math.round(reading.rttMs * 10) / 10 };
      if (size > CLOCK_WARN_MS && !off) {
        p.log.warn(
          fields,
          `this process's clock is ${(size / 1000).toFixed(1)} s ${reading.offsetMs > 0 ? 'behind' : 'ahead of'} the database's: expiries, leases and due times are judged by the database's, but new task ids (the list's order) and a client's runAfter come from this one; sync it with NTP (docs/operations.md "Clocks")`,
        );
      } else if (size <= CLOCK_WARN_MS && off) {
        p.log.info(fields, "this process's clock is within a second of the database's again");
      }
      off = size > CLOCK_WARN_MS;
    },
  });
  await clock.read();
  const queue = createQueue({ sql: db.sql, catalog: registry, resultTtlMs: config.resultTtlMs, maxArgsBytes: config.maxArgsBytes });
  const w = config.worker;
  // What close() stops first: a part left running on a closed pool retried its statements for ever
  // and kept the process alive.
  const runners = new Set<Runner>();
  const rescuer = createRescuer({
    sql: db.sql,
    log: p.log,
    resultTtlMs: config.resultTtlMs,
    intervalMs: config.maintenanceIntervalMs,
    definitionBackoff: (name) => registry.get(name)?.backoff,
    leaseMs: config.worker.leaseMs,
  });
  const cleaner = createCleaner({ sql: db.sql, log: p.log, intervalMs: config.maintenanceIntervalMs * 4, resultTtlMs: config.resultTtlMs });
  const bulkActionRunner = createBulkActionRunner({ sql: db.sql, log: p.log, resultTtlMs: config.resultTtlMs });
  const scheduler = createScheduler({
    sql: db.sql,
    log: p.log,
    catalog: registry,
    catchUpMax: config.scheduler.catchUpMax,
    pollIntervalMs: config.scheduler.pollIntervalMs,
    misfireGraceMs: config.scheduler.misfireGraceMs,
  });
  return {
    config,
    log: p.log,
    db,
    registry,
    queue,
    createRunner: (overrides = {}) => {
      const runner = createRunner({
        sql: db.sql,
        registry,
        log: p.log,
        concurrency: w.concurrency,
        prefetchMs: w.prefetchMs,
        claimsInFlight: w.claimsInFlight,
        queues: w.queues,
        pollIntervalMs: w.pollIntervalMs,
        leaseMs: w.leaseMs,
        heartbeatMs: w.heartbeatMs,
        shutdownGraceMs: w.shutdownGraceMs,
        resultTtlMs: config.resultTtlMs,
        maxResultBytes: config.maxResultBytes,
        maxOutputBytes: config.maxOutputBytes,
        now: clock.now,
        ...overrides,
      });
      runners.add(runner);
      return runner;
    },
    rescuer,
    cleaner,
    bulkActionRunner,
    scheduler,
    clock,
    async close() {
      // Runners first (their hand-backs and outcomes need the pool), then the maintenance parts.
      await stopServices([rescuer, cleaner, bulkActionRunner, scheduler, ...runners]).catch((error: unknown) => p.log.error({ err: error }, 'a part failed to stop'));
      await db.close();
    },
  };
}
