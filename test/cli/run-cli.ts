import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { taskwireBin } from '../helpers/spawned-code.js';
import { waitFor } from '../helpers/wait.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  child: ChildProcess;
  /** Output so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Polls (with a deadline) until stderr matches. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when the process exits. */
  done: Promise<CliResult>;
}

export interface CliOptions {
  /** The working directory (default this one): where relative TASK_MODULES paths are read from. */
  cwd?: string;
  /** Written to its stdin, which is then closed (default: no stdin). */
  input?: string;
  /** The checkout's own bin/taskwire.js (its sources through tsx), not the run's compiled copy. */
  checkout?: boolean;
}

/** `node bin/taskwire.js <args>` (the run's compiled one: spawned-code.ts) as a real child process; TASKWIRE_URL and the rest from `env`. */
export function startCli(args: string[], env: Record<string, string> = {}, options: CliOptions = {}): CliRun {
  const { input, checkout, ...spawnOptions } = options;
  const bin = checkout ? fileURLToPath(new URL('../../bin/taskwire.js', import.meta.url)) : taskwireBin();
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...spawnOptions });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    async waitForStderr(pattern, timeoutMs = 15_000) {
      await waitFor(() => pattern.test(stderr) || child.exitCode !== null, { timeoutMs, message: `stderr to match ${pattern}` });
      if (!pattern.test(stderr)) throw new Error(`taskwire ${args.join(' ')} exited ${child.exitCode} before stderr matched ${pattern}: ${stderr}`);
    },
    done,
  };
}

/** Runs the CLI to its end (killed after `timeoutMs`). */
export async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000, options: CliOptions = {}): Promise<CliResult> {
  const run = startCli(args, env, options);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  try {
    return await run.done;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A URL on 127.0.0.1 where nothing listens: port 2, which no server of ours takes and the system
 * never hands out for port 0 (a port free a moment ago could be taken by any test's server before
 * the command under test connects). Not port 1: fetch refuses it outright ("bad port").
 */
export const CLOSED_URL = 'http://127.0.0.1:2/graphql';
