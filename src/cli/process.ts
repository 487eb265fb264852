import type { Config } from '../config.js';
import { migrateDatabase } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';
import { createDeps, type Deps } from '../deps.js';
import type { Logger } from '../logger.js';
import { logTaskLifecycle } from '../metrics/task-log.js';
import type { Runner } from '../worker/runner.js';

export interface ProcessRoles {
  server: boolean;
  worker: boolean;
  maintenance: boolean;
  concurrency?: number;
  queues?: string[];
}

export interface RunningProcess {
  deps: Deps;
  runner: Runner | undefined;
  stop(): Promise<void>;
}

/**
 * Starts what one taskwire process runs: the server first (its `/metrics` hooks on the runner are
 * in place before the first claim, which they would otherwise miss), then the worker, then
 * maintenance. Shutdown goes the other way: maintenance, then the worker (stop claiming, let
 * running tasks finish or hand them back, while the server still delivers their last states to
 * subscribers and counts them), then the server, the pool, and the embedded PostgreSQL last.
 */
export async function startProcess(config: Config, log: Logger, roles: ProcessRoles): Promise<RunningProcess> {
  const database = await resolveDatabase(config, log);
  await migrateDatabase(database.url);
  const deps = await createDeps(config, { databaseUrl: database.url, log });
  const runner = roles.worker
    ? deps.createRunner({ ...(roles.concurrency ? { concurrency: roles.concurrency } : {}), ...(roles.queues ? { queues: roles.queues } : {}) })
    : undefined;
  let server: { stop(): Promise<void> } | undefined;
  if (roles.server) {
    const { startServer } = await import('../server/start.js');
    server = await startServer(deps, { runner });
  }
  if (runner) logTaskLifecycle(runner, log);
  await runner?.start();
  if (roles.maintenance) {
    deps.rescuer.start();
    deps.cleaner.start();
  }
  log.info({ tasks: deps.registry.names() }, 'taskwire ready');
  return {
    deps,
    runner,
    async stop() {
      await deps.rescuer.stop();
      await deps.cleaner.stop();
      await runner?.stop();
      await server?.stop();
      await deps.close();
      await database.stop();
      log.info('stopped');
    },
  };
}
