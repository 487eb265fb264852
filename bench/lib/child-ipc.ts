import type { ChildProcess } from 'node:child_process';

/** What every bench child process may answer instead of the reply asked for. */
interface ErrorReply {
  type: 'error';
  error: string;
}

/**
 * Resolves with the first reply of `type` from `child`; rejects on an 'error' reply or an exit.
 * `what` names the child in those errors ("drain worker process").
 */
export function replyOf<R extends { type: string }, T extends R['type']>(child: ChildProcess, type: T, what: string): Promise<Extract<R, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const r = m as R | ErrorReply;
      if (r.type === 'error') reject(new Error(`${what}: ${(r as ErrorReply).error}`));
      else if (r.type === type) resolve(r as Extract<R, { type: T }>);
      else return;
      cleanup();
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${what} exited (${code}) before '${type}'`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** An error as the text an 'error' reply carries: its stack when it has one. */
export function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
