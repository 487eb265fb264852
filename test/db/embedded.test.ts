import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, packagedBinaries, startEmbeddedPostgres, type EmbeddedDatabase, type EmbeddedOptions, type EmbeddedServerEvent } from '../../src/db/embedded.js';
import { ConfigError } from '../../src/errors.js';
import { waitFor } from '../helpers/wait.js';

const asRoot = process.getuid?.() === 0;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  // Every cleanup runs (servers stopped before their directories go), then the first failure is reported.
  const failures: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((error: unknown) => failures.push(error));
  if (failures.length > 0) throw failures[0];
});

/** A fresh directory that only its owner can enter (mkdtemp makes it 0700), removed after the test. */
async function privateDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }));
  return dir;
}

/** A checkout in a private home: PostgreSQL's binaries as in its node_modules (hard links, or a copy). */
async function privateCheckout(): Promise<{ binariesDir: string; dataDir: string }> {
  const checkout = path.join(await privateDir('taskwire-home '), 'my checkout');
  await mkdir(checkout);
  const binariesDir = path.join(checkout, 'native');
  const packaged = await packagedBinaries();
  try {
    execFileSync('cp', ['-a', '-l', packaged, binariesDir]);
  } catch {
    execFileSync('cp', ['-a', packaged, binariesDir]);
  }
  return { binariesDir, dataDir: path.join(checkout, '.data') };
}

/** A private checkout's options as this user starts it: as root, with a world-enterable shared directory to relocate to. */
async function checkoutOptions(): Promise<EmbeddedOptions> {
  const { binariesDir, dataDir } = await privateCheckout();
  if (!asRoot) return { dataDir, binariesDir };
  const sharedDir = await privateDir('taskwire-shared-');
  await chmod(sharedDir, 0o755);
  return { dataDir, binariesDir, sharedDir };
}

async function answers(db: EmbeddedDatabase): Promise<{ one: number; dataDirectory: string; tables: string[] }> {
  const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
  try {
    const [row] = await sql<{ one: number }[]>`SELECT 1 AS one`;
    const [setting] = await sql<{ data_directory: string }[]>`SHOW data_directory`;
    const tables = await sql<{ tablename: string }[]>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`;
    return { one: row!.one, dataDirectory: setting!.data_directory, tables: tables.map((t) => t.tablename) };
  } finally {
    await sql.end();
  }
}

describe('startEmbeddedPostgres', () => {
  it.skipIf(!asRoot)(
    'as root, starts from a fresh 0700 directory whose path has a space, answers SELECT 1 and keeps its data across starts (skipped when not running as root)',
    async () => {
      const { binariesDir, dataDir } = await privateCheckout();
      const sharedDir = await privateDir('taskwire-shared-');
      await chmod(sharedDir, 0o755);
      const options = { dataDir, binariesDir, sharedDir };

      const first = await startEmbeddedPostgres(options);
      cleanups.push(() => first.stop());
      // The postgres user cannot enter the checkout: binaries and data are used from sharedDir.
      expect(first).toMatchObject({ relocated: true });
      expect(first.dataDir.startsWith(`${sharedDir}${path.sep}`)).toBe(true);
      expect(await answers(first)).toEqual({ one: 1, dataDirectory: path.join(first.dataDir, 'pg'), tables: [] });
      const sql = postgres(first.url, { max: 1, onnotice: () => undefined });
      await sql`CREATE TABLE kept (id int)`;
      await sql.end();
      await first.stop();

      const second = await startEmbeddedPostgres(options);
      cleanups.push(() => second.stop());
      expect(second.dataDir).toBe(first.dataDir);
      expect((await answers(second)).tables).toEqual(['kept']);
      // One copy of the binaries and one data directory, both reused by the second start.
      expect((await readdir(sharedDir)).length).toBe(2);
    },
  );

  it.skipIf(!asRoot)(
    'as root, stops with a one-line ConfigError when the postgres user can reach neither the data nor the shared directory (skipped when not running as root)',
    async () => {
      const home = await privateDir('taskwire-home ');
      const start = startEmbeddedPostgres({ dataDir: path.join(home, 'a checkout', '.data'), sharedDir: path.join(home, 'shared') });
      await expect(start).rejects.toBeInstanceOf(ConfigError);
      const error = (await start.catch((e: unknown) => e)) as ConfigError;
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).not.toContain('\n');
    },
  );

  it.skipIf(asRoot)('as another user, starts from a 0700 directory whose path has a space, in place (skipped as root: see above)', async () => {
    const { binariesDir, dataDir } = await privateCheckout();
    const db = await startEmbeddedPostgres({ dataDir, binariesDir });
    cleanups.push(() => db.stop());
    expect(db).toMatchObject({ relocated: false, dataDir });
    expect((await answers(db)).one).toBe(1);
  });
});

describe('a second process on the same data', () => {
  it('uses the server while the process that started it lives, and never stops it; restarts one whose starter is gone, on its port', async () => {
    const options = await checkoutOptions();
    // No watch on the first: `third`, below, restarts that server from this very process.
    const first = await startEmbeddedPostgres({ ...options, watchMs: 0 });
    cleanups.push(() => first.stop());
    const postmaster = async (): Promise<number> => Number((await readFile(path.join(first.dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const started = await postmaster();
    // The server as another live process (`taskwire serve` beside this `taskwire worker`) started it.
    const other = spawn('sleep', ['300'], { stdio: 'ignore' });
    cleanups.push(async () => other.kill());
    await writeFile(path.join(first.dataDir, 'owner'), String(other.pid));

    const second = await startEmbeddedPostgres(options);
    expect(second).toMatchObject({ sharedWith: other.pid, port: first.port, url: first.url, dataDir: first.dataDir });
    expect(await postmaster()).toBe(started);
    await second.stop();
    expect((await answers(first)).one).toBe(1);
    expect(await postmaster()).toBe(started);

    // Its starter killed outright: the server left running is stopped and started afresh, for this process.
    other.kill('SIGKILL');
    await waitFor(() => other.exitCode !== null || other.signalCode !== null, { message: 'the other process to die' });
    const third = await startEmbeddedPostgres(options);
    cleanups.push(() => third.stop());
    expect(third.sharedWith).toBeUndefined();
    expect(await postmaster()).not.toBe(started);
    // On the port it had: clients pointed at it find it again (a new one was picked, the old still taken).
    expect(third.port).toBe(first.port);
    expect(Number(await readFile(path.join(third.dataDir, 'owner'), 'utf8'))).toBe(process.pid);
    expect((await answers(third)).one).toBe(1);
  });
});

describe('a server that dies under its process', () => {
  it('is started again after a crash (killed outright), keeping what was committed; a clean stop by someone else (a signal to the whole process group, as a service manager sends) is said once and respected, and stop() then stops quietly', async () => {
    const events: EmbeddedServerEvent[] = [];
    const db = await startEmbeddedPostgres({ ...(await checkoutOptions()), watchMs: 50, onServerEvent: (e) => events.push(e) });
    cleanups.push(() => db.stop());
    const pidFile = path.join(db.dataDir, 'pg', 'postmaster.pid');
    const postmaster = async (): Promise<number> => Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
    const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
    cleanups.push(() => sql.end({ timeout: 1 }));
    await sql`CREATE TABLE kept (id int)`;
    await sql`INSERT INTO kept VALUES (1)`;

    // As the kernel's OOM killer does: no shutdown, the pid file left behind.
    const crashed = await postmaster();
    process.kill(crashed, 'SIGKILL');
    await waitFor(() => events.some((e) => e.kind === 'restarted'), { timeoutMs: 30_000, message: 'the server to be started again' });
    expect(events[0]).toEqual({ kind: 'exited', pid: crashed });
    const restarted = await postmaster();
    expect(restarted).not.toBe(crashed);
    expect(events.find((e) => e.kind === 'restarted')).toMatchObject({ pid: restarted });
    // The pool reconnects on its own; crash recovery kept the committed row.
    await waitFor(async () => (await sql`SELECT count(*)::int AS n FROM kept`.catch(() => []))[0]?.n === 1, {
      timeoutMs: 30_000,
      message: 'the committed row after the restart',
    });

    // A clean shutdown asked by another process (pg_ctl stop, a signal to the whole unit): not undone,
    // and stopping a server already gone is quiet.
    events.length = 0;
    process.kill(restarted, 'SIGINT');
    await waitFor(() => events.some((e) => e.kind === 'stopped'), { timeoutMs: 30_000, message: 'PostgreSQL to stop on SIGINT, and the stop to be told' });
    expect(events).toEqual([{ kind: 'stopped', pid: restarted }]);
    expect(existsSync(pidFile)).toBe(false);
    await expect(db.stop()).resolves.toBeUndefined();
  });
});

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range, free to bind', async () => {
    // Below the range, no listen(0) or outgoing connection of another test takes the port before its
    // server binds it; asked for together, as the reliability tests do, they never repeat.
    const [first] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
    const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port).toBeLessThan(first as number);
    const servers = await Promise.all(
      ports.map((port) => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const server = createServer().once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve(server));
      })),
    );
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });
});
