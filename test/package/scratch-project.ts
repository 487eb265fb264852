import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository: where `npm pack` runs. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a user's shell: this process's, without what the test runner or tsx put
 * there (a NODE_OPTIONS carrying `--import tsx` would hide a built package that needs tsx).
 */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  for (const key of Object.keys(env)) if (key.startsWith('VITEST') || key.startsWith('npm_')) delete env[key];
  return { ...env, ...extra };
}

/** Runs a command to its end; fails if it takes longer than `timeoutMs` (then it is killed). */
export function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Ran> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: still running after ${options.timeoutMs} ms\n${stderr.slice(-3000)}`));
    }, options.timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `npm pack` of the repository (prepack builds dist/) into `dir`: the tarball's path. */
export async function packTarball(dir: string): Promise<string> {
  const packed = await run('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: ROOT, timeoutMs: 400_000 });
  if (packed.code !== 0) throw new Error(`npm pack failed (${packed.code}):\n${packed.stderr.slice(-3000)}`);
  const [info] = JSON.parse(packed.stdout) as { filename: string }[];
  return path.join(dir, info!.filename);
}

/**
 * A user's project outside the repository with the tarball installed from the registry's
 * dependencies. Its directory is 0755: `taskwire dev` starts the embedded PostgreSQL, which runs
 * as the postgres user and must reach its data there.
 */
export async function createScratchProject(tarball: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'taskwire-scratch-'));
  await chmod(dir, 0o755);
  // As `npm init -y` writes it (npm 11): CommonJS, so a task module in `tasks.ts` is CommonJS too.
  await writeFile(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'scratch', private: true, type: 'commonjs' }, null, 2)}\n`);
  const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: dir, timeoutMs: 400_000 });
  if (installed.code !== 0) throw new Error(`npm install ${tarball} failed (${installed.code}):\n${installed.stderr.slice(-3000)}`);
  return dir;
}

export interface LogLine {
  msg: string;
  [key: string]: unknown;
}

export interface LongRunning {
  child: ChildProcess;
  /** The first JSON log line on stderr (so far or to come) that `predicate` accepts. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Starts a long-running command in a process group of its own (so Ctrl-C can be sent to the group, as a terminal does). */
export function start(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): LongRunning {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: LogLine[] = [];
  const waiters = new Set<(line: LogLine) => void>();
  let text = '';
  let buffer = '';
  child.stdout!.resume();
  child.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const raw = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const waiter of [...waiters]) waiter(line);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    exited,
    stderr: () => text,
    waitForLog(predicate, timeoutMs) {
      const found = lines.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const done = (error?: Error, line?: LogLine): void => {
          clearTimeout(timer);
          waiters.delete(waiter);
          if (error) reject(error);
          else resolve(line!);
        };
        const waiter = (line: LogLine): void => {
          if (predicate(line)) done(undefined, line);
        };
        const timer = setTimeout(() => done(new Error(`${command} ${args.join(' ')}: no such log line in ${timeoutMs} ms\n${text.slice(-3000)}`)), timeoutMs);
        waiters.add(waiter);
        void exited.then(({ code }) => {
          if (waiters.has(waiter)) done(new Error(`${command} ${args.join(' ')} exited (${code}) before the log line\n${text.slice(-3000)}`));
        });
      });
    },
  };
}
