import { createClient, TaskCancelledError, TaskFailedError, type Task, type TaskwireClient } from '../client/index.js';
import type { ClientConfig } from '../client-config.js';
import { EXIT, urlOption } from './args.js';
import { errorJson, errorLine, visible, type Io } from './output.js';

/** The options every client command takes. */
export const COMMON = {
  url: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** What a client command runs with. */
export interface Context {
  io: Io;
  config: ClientConfig;
  /** Aborted by Ctrl-C. */
  signal: AbortSignal;
}

/**
 * Runs `fn` with a client of the server (`--url`, else TASKWIRE_URL; TASKWIRE_TOKEN its credential);
 * Ctrl-C closes it, unless `closeOnInterrupt` is false (`fn` then stops on `ctx.signal` itself).
 */
export async function withClient(
  command: string,
  url: string | undefined,
  ctx: Context,
  fn: (client: TaskwireClient) => Promise<number>,
  options: { closeOnInterrupt?: boolean } = {},
): Promise<number> {
  const { token } = ctx.config;
  const client = createClient({ url: url === undefined ? ctx.config.url : urlOption(command, url), ...(token ? { getToken: () => token } : {}) });
  const onInterrupt = (): void => void client.close();
  if (options.closeOnInterrupt !== false) ctx.signal.addEventListener('abort', onInterrupt, { once: true });
  try {
    return await fn(client);
  } finally {
    ctx.signal.removeEventListener('abort', onInterrupt);
    await client.close();
  }
}

/** One JSON line. */
export const json = (value: unknown): string => `${JSON.stringify(value)}\n`;

/** Exit code for a task as it stands: 1 once it FAILED or was CANCELLED. */
export const exitOf = (task: Task): number => (task.status === 'FAILED' || task.status === 'CANCELLED' ? EXIT.failed : EXIT.ok);

/**
 * Prints why a finished task did not succeed (stderr): a line and every attempt's error, or with
 * `--json` the client's TASK_FAILED / TASK_CANCELLED error (its message names the last error).
 */
export function reportUnsuccessful(io: Io, task: Task, asJson = false): void {
  if (asJson) {
    const error = task.status === 'CANCELLED' ? new TaskCancelledError(task) : new TaskFailedError(task);
    io.err(errorJson(error));
    return;
  }
  io.err(`taskwire: task ${task.id} (${visible(task.name)}) ${task.status} after ${task.attempts} attempt(s)\n`);
  for (const e of task.errors) io.err(`  ${errorLine(e)}\n`);
}

/** Ctrl-C or --timeout, whichever comes first; the timeout's abort says it is a timeout. */
export function followSignal(ctx: Context, timeoutMs: number | undefined): AbortSignal {
  return withTimeout(ctx.signal, timeoutMs);
}

/** The timeout signal of each signal withTimeout made, held for as long as that signal lives. */
const heldTimeouts = new WeakMap<AbortSignal, AbortSignal>();

/**
 * `signal`, or it and a timeout, whichever aborts first. AbortSignal.any() holds its sources weakly,
 * and Node 20 collects a timeout signal that nothing else holds before it fires (nodejs/node#57736):
 * `taskwire feed --timeout 0.2` ran on past it. The signal made here holds its timeout.
 */
export function withTimeout(signal: AbortSignal, timeoutMs: number | undefined): AbortSignal {
  if (timeoutMs === undefined) return signal;
  const timeout = AbortSignal.timeout(timeoutMs);
  const either = AbortSignal.any([signal, timeout]);
  heldTimeouts.set(either, timeout);
  return either;
}
