import type { Config } from '../config.js';
import { maskUrlPassword } from '../masking.js';
import { ConfigError, isDiskFull, isSocketRefused, isTlsFault } from '../errors.js';
import { explainConnectionError, isTlsSetupCut } from '../db/doctor.js';
import { DATABASE_AHEAD_MESSAGE, lockWaitMessage, migrateDatabase, migrationSummary } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';
import { createDeps, type Deps } from '../deps.js';
import type { Logger } from '../logger.js';
import { logTaskLifecycle } from '../metrics/task-log.js';
import { startServices, stopServices, type Service } from '../service.js';
import { assertSafeToServe } from '../server/start-rule.js';
import { createDeclaredScheduleSync } from '../worker/declared-schedules.js';
import { taskRegistry } from '../worker/registry.js';
import type { Runner } from '../worker/runner.js';
import { createMetricsEndpoint } from './metrics-endpoint.js';

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
  /** The worker's attempts claimed and not yet finished, as `taskId:attempt` (none without a worker). */
  inHand(): string[];
  stop(): Promise<void>;
}

/**
 * Starts what one taskwire process runs, as a list of services in start order:
 * 1. the GraphQL server, or, in a process without one, the metrics endpoint (METRICS_PORT):
 *    their `/metrics` hooks on the runner are in place before its first claim, which they
 *    would otherwise miss;
 * 2. the worker, after the schedules its task definitions declare are synced;
 * 3. maintenance (the rescuer, the cleaner, the bulk-action runner, the scheduler: SCHEDULER_ENABLED).
 * Shutdown stops the list in reverse: maintenance, then the worker (stop claiming, let running
 * tasks finish or hand them back, while the server still delivers their last states to
 * subscribers and counts them), then the server; then the pool, and the embedded PostgreSQL last.
 */
export async function startProcess(config: Config, log: Logger, roles: ProcessRoles): Promise<RunningProcess> {
  // Before anything starts (the embedded PostgreSQL, migrations): a server that may not serve
  // says so at once. A worker alone listens on no GraphQL port and is not concerned.
  if (roles.server) assertSafeToServe(config.auth.mode, config.host);
  // The task modules next, for the same reason: a TASK_MODULES that cannot load stops the start
  // before an embedded PostgreSQL is started or migrated for a process that would not run.
  const registry = await taskRegistry(config.taskModules);
  const database = await resolveDatabase(config, log);
  try {
    // Direct when DATABASE_URL is a transaction pooler's: the migration lock is a session lock.
    const report = await migrateDatabase(config.databaseListenUrl ?? database.url, { onLockWait: (wait) => log.warn(wait, lockWaitMessage(wait)) });
    if (report.databaseAhead) log.warn(DATABASE_AHEAD_MESSAGE);
    // An upgrade's schema change is in the log of the process that made it, as `taskwire migrate` says it.
    if (report.applied > 0) log.info({ applied: report.applied, known: report.known }, migrationSummary(report));
  } catch (error) {
    await database.stop().catch(() => undefined);
    throw databaseFailure(error, config) ?? error;
  }
  const deps = await createDeps(config, { databaseUrl: database.url, log, registry });
  const runner = roles.worker
    ? deps.createRunner({ ...(roles.concurrency ? { concurrency: roles.concurrency } : {}), ...(roles.queues ? { queues: roles.queues } : {}) })
    : undefined;
  const lifecycle = runner ? logTaskLifecycle(runner, log) : undefined;
  // /readyz says 503 from the first step of the stop: the services stop in reverse, and the server
  // or metrics endpoint that answers it goes last (after the worker's grace period).
  let stopping = false;
  const isStopping = (): boolean => stopping;
  const services: Service[] = [
    ...(roles.server ? [graphqlServer(deps, runner, isStopping)] : []),
    ...(!roles.server && config.metricsPort !== undefined
      ? [createMetricsEndpoint(deps, { port: config.metricsPort, host: config.host, runner, processStopping: isStopping })]
      : []),
    // A worker upserts the schedules its task modules declare before it claims (a runtime pause stays).
    ...(runner ? [createDeclaredScheduleSync({ queue: deps.queue, registry: deps.registry, log })] : []),
    ...(runner ? [runner] : []),
    ...(roles.maintenance ? [deps.rescuer, deps.cleaner, deps.bulkActionRunner] : []),
    ...(roles.maintenance && config.scheduler.enabled ? [deps.scheduler] : []),
  ];
  const closeDatabase = async (): Promise<void> => {
    await deps.close();
    await database.stop();
  };
  try {
    await startServices(services);
  } catch (error) {
    await closeDatabase().catch(() => undefined);
    throw listenFailure(error, roles.server ? 'HOST and PORT' : 'HOST and METRICS_PORT') ?? error;
  }
  log.info({ tasks: deps.registry.names() }, 'taskwire ready');
  return {
    deps,
    runner,
    inHand: () => lifecycle?.inHand() ?? [],
    async stop() {
      stopping = true;
      try {
        await stopServices(services);
      } finally {
        await closeDatabase();
      }
      log.info('stopped');
    },
  };
}

/** The GraphQL server as a service (loaded only by processes that serve). */
function graphqlServer(deps: Deps, runner: Runner | undefined, processStopping: () => boolean): Service {
  let server: { stop(): Promise<void> } | undefined;
  return {
    async start() {
      const { startServer } = await import('../server/start.js');
      server = await startServer(deps, { runner, processStopping });
    },
    async stop() {
      await server?.stop();
    },
  };
}

/** Why a listen fails that the configuration can fix, by Node's error code. */
const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (another process listens there: a second npm start?)',
  EACCES: 'this process may not listen there (a port below 1024 needs privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine',
  ENOTFOUND: 'the host name does not resolve',
};

/**
 * A listen that failed for a reason the configuration can fix (a port in use, a host that does not
 * resolve), as a ConfigError naming the variables (one line, exit 2) rather than an "unexpected
 * error"; undefined for anything else.
 */
function listenFailure(error: unknown, variables: string): ConfigError | undefined {
  const e = error as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const reason = typeof e?.code === 'string' ? LISTEN_REASONS[e.code] : undefined;
  if (!reason || (e.syscall !== 'listen' && e.syscall !== 'getaddrinfo')) return undefined;
  const where = e.hostname ?? (e.port === undefined ? e.address : `${e.address}:${e.port}`);
  return new ConfigError(`cannot listen on ${where}: ${reason}; set ${variables} to another`, { field: 'HOST' });
}

/**
 * Connection errors a corrected URL fixes, and those of a server at that URL that cannot take a
 * connection now (no connection slot left, a full disk, no memory): doctor explains each
 * (src/db/doctor.ts explainConnectionError), and TLS's faults (isTlsFault).
 */
const URL_FAULTS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'CONNECT_TIMEOUT', '28P01', '28000', '3D000', '53300', '53200']);
/**
 * The database ended the start's connection (a restart or failover under the start's migrations, a
 * chaos tester's kill): said as such, not "unexpected error: terminating connection due to
 * administrator command". A supervisor starts the process again.
 */
const GONE = new Set(['57P01', '57P02', '57P03', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', 'ECONNRESET']);

/**
 * The first contact with DATABASE_URL (or DATABASE_LISTEN_URL, which migrations use when set)
 * failed for a reason the URL decides (nothing listens there, a host that does not resolve, a
 * password refused, no such database): a ConfigError naming the variable, its password masked, in
 * doctor's words (one line, exit 2) rather than "unexpected error: connect ECONNREFUSED"; so too a
 * server there that cannot take a connection now (too many clients, a full disk), which the
 * variable does not fix but the line names. Undefined for anything else, and for the embedded
 * PostgreSQL, which no variable names.
 */
export function databaseFailure(error: unknown, config: Config): ConfigError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && GONE.has(code) && !(config.databaseUrl && isTlsSetupCut(error))) {
    const message = (error as { message?: unknown }).message;
    return new ConfigError(
      `the database ended the connection while this process was starting (${code}: ${String(message)}): is it restarting or failing over? Start again once it is back`,
      { cause: error },
    );
  }
  if (!config.databaseUrl || typeof code !== 'string' || !(URL_FAULTS.has(code) || isTlsFault(code) || isTlsSetupCut(error) || isSocketRefused(error) || isDiskFull(error))) return undefined;
  const [variable, url] = config.databaseListenUrl ? ['DATABASE_LISTEN_URL', config.databaseListenUrl] : ['DATABASE_URL', config.databaseUrl];
  const masked = maskUrlPassword(url);
  const shown = masked === undefined ? `${variable} (not shown: it may hold a password)` : `${variable}=${masked}`;
  return new ConfigError(`cannot connect to ${shown}: ${explainConnectionError(error, { url, source: variable })}`, { field: variable, cause: error });
}
