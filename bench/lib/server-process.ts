import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { exitChild } from './child-ipc.js';
import type { WarmUpReport } from '../../src/server/warm-up.js';
import type { ServerReply, ServerRequest, ServerSpec } from '../server-child.js';

export interface ServerProcess {
  /** http://127.0.0.1:PORT/graphql, when it serves GraphQL. */
  url: string;
  pid: number;
  /** Its server's warm-up before it said ready (SERVER_WARM_UP_MS); undefined without one. */
  warmUp: WarmUpReport | undefined;
  /** The hub's counters and the process's memory (after two full GCs when `gc`). */
  stats(gc?: boolean): Promise<{ stats: Record<string, number>; memory: NodeJS.MemoryUsage }>;
  /** Writes a V8 heap snapshot of the process to `file`. */
  heapSnapshot(file: string): Promise<void>;
  /** Starts the runner of a process started with `workerPaused`; resolves once it runs. */
  startWorker(): Promise<void>;
  stop(): Promise<void>;
  /** Kills the process with `signal` (no shutdown of its own) and resolves once it has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

function next(child: ChildProcess, type: ServerReply['type'] | 'ready'): Promise<ServerReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const reply = m as ServerReply;
      if (reply.type === 'error') reject(new Error(`taskwire process: ${reply.error}`));
      else if (reply.type === type) resolve(reply);
      else return;
      cleanup();
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`taskwire process exited (${code}) before answering`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Starts bench/server-child.ts in its own process, so its CPU and memory are its own. */
export async function startServerProcess(root: string, spec: ServerSpec, profileDir?: string): Promise<ServerProcess> {
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', path.join(profileDir, spec.server ? 'server' : 'worker')] : [];
  const child = fork(path.join(root, 'bench/server-child.ts'), [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...profile],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = (await next(child, 'ready')) as Extract<ServerReply, { type: 'ready' }>;
  return {
    url: ready.url ?? '',
    pid: child.pid ?? 0,
    warmUp: ready.warmUp,
    async stats(gc = false) {
      const answer = next(child, 'stats');
      child.send({ type: 'stats', gc } satisfies ServerRequest);
      const reply = (await answer) as Extract<ServerReply, { type: 'stats' }>;
      return { stats: reply.stats, memory: reply.memory };
    },
    async heapSnapshot(file) {
      const answer = next(child, 'heap-snapshot');
      child.send({ type: 'heap-snapshot', path: file } satisfies ServerRequest);
      await answer;
    },
    async startWorker() {
      const answer = next(child, 'worker-started');
      child.send({ type: 'start-worker' } satisfies ServerRequest);
      await answer;
    },
    async stop() {
      await exitChild(child, { type: 'stop' } satisfies ServerRequest);
    },
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      await exited;
    },
  };
}
