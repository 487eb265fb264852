import { fork, type ChildProcess, type SerializationType } from 'node:child_process';
import path from 'node:path';

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

/**
 * Sends each of `children` its request (`request(k)` for the k-th; the same object for all is
 * fine) and resolves with every child's first reply of `type`, in the children's order.
 */
export function askEach<R extends { type: string }, T extends R['type']>(
  children: readonly ChildProcess[],
  type: T,
  request: (k: number) => object,
  what: string,
): Promise<Extract<R, { type: T }>[]> {
  return Promise.all(
    children.map((child, k) => {
      // Listening before sending: the reply cannot slip past.
      const reply = replyOf<R, T>(child, type, what);
      child.send(request(k));
      return reply;
    }),
  );
}

/** An error as the text an 'error' reply carries: its stack when it has one. */
export function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/**
 * Forks a bench child module (`file`, from the repository's root) under tsx, with its output on
 * the harness's; with `profileDir`, it writes its V8 CPU profile under `profileDir/profileName`.
 */
export function forkChild(o: { root: string; file: string; profileDir?: string | undefined; profileName: string; serialization?: SerializationType }): ChildProcess {
  const profile = o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', path.join(o.profileDir, o.profileName)] : [];
  return fork(path.join(o.root, o.file), [], {
    execArgv: ['--import', 'tsx', ...profile],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: o.serialization ?? 'json',
  });
}

/**
 * Forks `count` copies of a bench child module (see forkChild) with advanced serialization and waits
 * for each one's 'ready'; kills them all if one fails to start. `what` names one in errors.
 */
export async function startChildren(o: { root: string; file: string; profileDir?: string | undefined; profileName: string; count: number; what: string }): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  try {
    await Promise.all(
      Array.from({ length: o.count }, async () => {
        const child = forkChild({ ...o, serialization: 'advanced' });
        children.push(child);
        await replyOf<{ type: 'ready' }, 'ready'>(child, 'ready', o.what);
      }),
    );
  } catch (error) {
    for (const child of children) child.kill('SIGKILL');
    throw error;
  }
  return children;
}

/** Sends `request` (the child's way out: it writes its profile and exits) and waits for the exit; kills it after 15 s. */
export async function exitChild(child: ChildProcess, request: unknown): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send(request as object);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
