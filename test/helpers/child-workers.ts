import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { helperScriptArgs } from './spawned-code.js';
import type { WorkerMessage } from './worker-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));
/** The task module child workers load (TASK_MODULES): their registry holds only these tasks. */
export const CHILD_TASKS = fileURLToPath(new URL('./child-tasks.ts', import.meta.url));

export interface ChildWorker {
  workerId: string;
  pid: number;
  child: ChildProcess;
  /** Everything the child wrote on stderr (for failure messages). */
  stderr(): string;
  /** SIGTERM, then waits for the 'stopped' report and the exit. Rejects after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<{ code: number | null; finished: number; ms: number }>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/**
 * Starts `test/helpers/worker-process.ts` in a child process against `databaseUrl` and
 * resolves once its runner listens. `env` adds configuration (TASK_MODULES, LEASE_MS …).
 */
export function startChildWorker(databaseUrl: string, env: Record<string, string> = {}, timeoutMs = 20_000): Promise<ChildWorker> {
  const child = spawn(process.execPath, helperScriptArgs(SCRIPT), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: databaseUrl, TASK_MODULES: CHILD_TASKS, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise<ChildWorker>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker process did not become ready within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker process exited with ${code} before it was ready:\n${stderr}`));
    });
    child.on('message', (message: WorkerMessage) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve({
        workerId: message.workerId,
        pid: message.pid,
        child,
        stderr: () => stderr,
        stop: (stopTimeoutMs = 15_000) => stopChild(child, exited, stopTimeoutMs, () => stderr),
        async kill() {
          child.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<number | null>,
  timeoutMs: number,
  stderr: () => string,
): Promise<{ code: number | null; finished: number; ms: number }> {
  const started = Date.now();
  let finished = -1;
  child.on('message', (message: WorkerMessage) => {
    if (message.type === 'stopped') finished = message.finished;
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker process did not exit within ${timeoutMs} ms of SIGTERM:\n${stderr()}`));
    }, timeoutMs);
  });
  child.kill('SIGTERM');
  try {
    const code = await Promise.race([exited, timeout]);
    return { code, finished, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
