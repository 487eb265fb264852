import { spawn, type ChildProcess } from 'node:child_process';
import { taskwireBin } from './spawned-code.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface TaskwireProcess {
  child: ChildProcess;
  /** Every JSON log line so far (stderr). */
  logs: LogLine[];
  /** Resolves with the first log line (so far or to come) matching `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, then the exit code (graceful shutdown). */
  stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * `node bin/taskwire.js <args>` as a real child process, configured by `env` (on top of this
 * process's); the run's compiled bin/taskwire.js (spawned-code.ts).
 */
export function spawnTaskwire(args: string[], env: Record<string, string>): TaskwireProcess {
  const child = spawn(process.execPath, [taskwireBin(), ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<{ predicate: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let stderrTail = '';
  let buffer = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        stderrTail = `${stderrTail}${text}\n`.slice(-2000);
        continue;
      }
      logs.push(line);
      for (const w of [...waiters]) {
        if (w.predicate(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  return {
    child,
    logs,
    waitForLog(predicate, timeoutMs = 30_000) {
      const found = logs.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`taskwire ${args.join(' ')}: no matching log line in ${timeoutMs} ms; exit ${child.exitCode}; stderr: ${stderrTail}`));
        }, timeoutMs);
        void exited.then(() => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`taskwire ${args.join(' ')} exited (${child.exitCode}) before the log line; stderr: ${stderrTail}`));
        });
        waiters.add(waiter);
      });
    },
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
