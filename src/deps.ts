import type { Config } from './config.js';
import { createDb, type Db } from './db/client.js';
import type { Logger } from './logger.js';
import { createQueue, type Queue } from './queue/index.js';
import { createBulkActionRunner, type BulkActionRunner } from './queue/bulk-actions/runner.js';
import { createScheduler, type Scheduler } from './queue/schedules/scheduler.js';
import { createCleaner, type Cleaner } from './queue/maintenance/cleaner.js';
import { createRescuer, type Rescuer } from './queue/maintenance/rescuer.js';
import { assertMigrated } from './db/doctor.js';
import { requireDatabaseUrl } from './db/migrate.js';
import { taskRegistry, type Registry } from './worker/registry.js';
import { createRunner, type Runner, type RunnerOptions } from './worker/runner.js';
import { stopServices } from './service.js';

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
        ...overrides,
      });
      runners.add(runner);
      return runner;
    },
    rescuer,
    cleaner,
    bulkActionRunner,
    scheduler,
    async close() {
      // Runners first (their hand-backs and outcomes need the pool), then the maintenance parts.
      await stopServices([rescuer, cleaner, bulkActionRunner, scheduler, ...runners]).catch((error: unknown) => p.log.error({ err: error }, 'a part failed to stop'));
      await db.close();
    },
  };
}
