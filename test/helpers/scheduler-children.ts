import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SchedulerMessage } from './scheduler-process.js';
import { helperScriptArgs } from './spawned-code.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./scheduler-process.ts', import.meta.url));

export interface SchedulerChild {
  pid: number;
  child: ChildProcess;
  /** Everything the child logged on stderr (JSON lines of warnings and errors). */
  stderr(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/** Starts `test/helpers/scheduler-process.ts` against `databaseUrl`; resolves once its scheduler listens. */
export function startSchedulerChild(databaseUrl: string, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<SchedulerChild> {
  const child = spawn(process.execPath, helperScriptArgs(SCRIPT), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: databaseUrl, DB_POOL_SIZE: '3', ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<SchedulerChild>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`scheduler process not ready within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`scheduler process exited before it was ready:\n${stderr}`));
    });
    child.on('message', (message: SchedulerMessage) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve({
        pid: message.pid,
        child,
        stderr: () => stderr,
        async stop(stopTimeoutMs = 15_000) {
          child.kill('SIGTERM');
          const timeout = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
          await exited;
          clearTimeout(timeout);
        },
        async kill() {
          child.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}
