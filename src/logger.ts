import pino, { type LevelWithSilent, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout stays free for CLI output). Child loggers add
 * `taskId`/`workerId` so every line about a task can be found by its id.
 */
export function createLogger(level: LevelWithSilent = 'info'): Logger {
  // Asynchronous (a synchronous line to a slow pipe cost ~50 µs here, against 3), each line still
  // written at once. minLength 1 rather than 0 only so that flush(cb) waits for what is held: at 0
  // it calls back at once, and a line logged before a failure could land under the CLI's last line.
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, minLength: 1 }));
}

/** Resolves once every line logged so far is written (before a process prints its last line and exits). */
export function logWritten(log: Logger): Promise<void> {
  // The error is the fsync a pipe or terminal refuses, after the lines are written.
  return new Promise((resolve) => log.flush(() => resolve()));
}

/** For tests and library use: a logger that drops everything. */
export const silentLogger: Logger = pino({ level: 'silent' });
