import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../src/db/embedded.js';

/** Debian's PgBouncer (.ci/run installs it: apt-get install -y pgbouncer). */
export const PGBOUNCER = '/usr/sbin/pgbouncer';
export const HAVE_PGBOUNCER = existsSync(PGBOUNCER);

/** PgBouncer tests are skipped without it, except in CI, where a missing pgbouncer is a failure. */
export const SKIP_PGBOUNCER = !HAVE_PGBOUNCER && process.env.CI !== 'true';

/** Says loudly that `what` is skipped (a quiet skip looks like a pass). */
export function warnIfPgbouncerSkipped(what: string): void {
  if (SKIP_PGBOUNCER) console.warn(`\n!! SKIPPED: ${what} needs ${PGBOUNCER} (apt-get install -y pgbouncer).\n`);
}

/** In CI with no PgBouncer: fail, saying what installs it. */
export function requirePgbouncer(): void {
  if (!HAVE_PGBOUNCER) throw new Error(`CI=true and ${PGBOUNCER} is missing: .ci/run installs it (apt-get install -y pgbouncer)`);
}

export interface PgbouncerOptions {
  /** The PostgreSQL it pools: any URL of that server (host, port, user and password are taken from it). */
  serverUrl: string;
  /** Server connections PgBouncer may open to each database, and to all of them together (default 20). */
  poolSize?: number;
}

export interface Pgbouncer {
  port: number;
  /** `database` through PgBouncer, with the server URL's user and password. */
  urlFor(database: string): string;
  /** One line per pool of SHOW POOLS (the admin console): server connections in use and clients waiting. */
  pools(): Promise<{ database: string; servers: number; clientsWaiting: number; maxWaitMs: number }[]>;
  /**
   * Samples SHOW POOLS for `database` every 50 ms until `stop()`, which gives the peaks: server
   * connections open and clients waiting for one.
   */
  samplePool(database: string): { stop(): Promise<{ peakServers: number; peakClientsWaiting: number }> };
  /** Everything PgBouncer wrote (its log), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer on a free loopback port, in transaction pooling, in front of the server of
 * `serverUrl`. Clients authenticate with md5 against the server URL's password (trust when it
 * has none); PgBouncer logs in to PostgreSQL with the same password. As root it runs as the
 * `postgres` user (it refuses root), so its files are made readable to that user.
 */
export async function startPgbouncer(options: PgbouncerOptions): Promise<Pgbouncer> {
  const server = new URL(options.serverUrl);
  const user = decodeURIComponent(server.username) || 'postgres';
  const password = decodeURIComponent(server.password);
  const poolSize = options.poolSize ?? 20;
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'taskwire-pgbouncer-'));
  await chmod(dir, 0o755);
  const quoted = (s: string): string => `"${s.replace(/"/g, '""')}"`;
  await writeFile(path.join(dir, 'userlist.txt'), `${quoted(user)} ${quoted(password)}\n`, { mode: 0o644 });
  const ini = [
    '[databases]',
    `* = host=${server.hostname.replace(/^\[|\]$/g, '')} port=${server.port || 5432}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    `auth_type = ${password ? 'md5' : 'trust'}`,
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    `admin_users = ${user}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    `max_db_connections = ${poolSize}`,
    'reserve_pool_size = 0',
    'max_client_conn = 1000',
    'log_connections = 0',
    'log_disconnections = 0',
  ].join('\n');
  const iniPath = path.join(dir, 'pgbouncer.ini');
  await writeFile(iniPath, `${ini}\n`, { mode: 0o644 });
  const asRoot = process.getuid?.() === 0;
  const child = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'postgres'] : []), iniPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pgbouncer did not start within 10 s:\n${log}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('process up')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`pgbouncer exited (${child.exitCode}) before it was up:\n${log}`));
    });
  });
  const urlFor = (database: string): string => {
    const u = new URL(options.serverUrl);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    u.pathname = `/${database}`;
    return u.toString();
  };
  // The admin console speaks the simple query protocol only: unsafe() without parameters uses it.
  const admin = postgres(urlFor('pgbouncer'), { max: 1, prepare: false, fetch_types: false, onnotice: () => undefined });
  async function pools(): ReturnType<Pgbouncer['pools']> {
    const rows = await admin.unsafe('SHOW POOLS');
    return rows
      .filter((r) => r.database !== 'pgbouncer')
      .map((r) => ({
        database: String(r.database),
        servers: ['sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login'].reduce((n, k) => n + Number(r[k] ?? 0), 0),
        clientsWaiting: Number(r.cl_waiting ?? 0),
        maxWaitMs: Number(r.maxwait ?? 0) * 1000 + Math.round(Number(r.maxwait_us ?? 0) / 1000),
      }));
  }
  return {
    port,
    urlFor,
    pools,
    samplePool(database) {
      const peaks = { peakServers: 0, peakClientsWaiting: 0 };
      let sampling = true;
      const loop = (async () => {
        while (sampling) {
          for (const p of await pools()) {
            if (p.database !== database) continue;
            peaks.peakServers = Math.max(peaks.peakServers, p.servers);
            peaks.peakClientsWaiting = Math.max(peaks.peakClientsWaiting, p.clientsWaiting);
          }
          // A sampling period, not a wait for some state.
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      return {
        async stop() {
          sampling = false;
          await loop;
          return peaks;
        },
      };
    },
    log: () => log,
    async stop() {
      await admin.end({ timeout: 1 });
      if (child.exitCode === null && child.signalCode === null) {
        // SIGTERM: fast shutdown (SIGINT would wait for every client to leave).
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
