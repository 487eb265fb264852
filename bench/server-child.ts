/**
 * A taskwire process for the GraphQL scenarios (e–j), started by a scenario child:
 * the GraphQL server (`buildApp`) and/or a worker (concurrency 10) over the benchmark's
 * tasks (bench/systems/taskwire.ts), with default settings unless `env` says otherwise. Run
 * with --expose-gc so memory can be read after a collection. Talks to its parent over IPC (see
 * ServerRequest / ServerReply).
 */
import { writeHeapSnapshot } from 'node:v8';
import type { App } from '../src/server/app.js';
import type { WarmUpReport } from '../src/server/warm-up.js';
import type { Runner } from '../src/worker/runner.js';
import { createTaskwireSystem } from './systems/taskwire.js';
import { CONCURRENCY } from './systems/types.js';

export interface ServerSpec {
  databaseUrl: string;
  server: boolean;
  worker: boolean;
  /** Port to serve on (default 0: any free one); a restarted server takes its predecessor's. */
  port?: number;
  /** Settings as environment variables, over the defaults (e.g. AUTH_ON_ENV in bench/lib/auth.ts). */
  env?: Record<string, string>;
  /**
   * With `worker`: make the runner but start it only when asked ('start-worker'), so the
   * process can be started ahead and the work begin at a moment of the scenario's choosing.
   */
  workerPaused?: boolean;
}

export type ServerRequest = { type: 'stats'; gc: boolean } | { type: 'heap-snapshot'; path: string } | { type: 'start-worker' } | { type: 'stop' };
export type ServerReply =
  | { type: 'ready'; url: string | undefined; warmUp?: WarmUpReport }
  | { type: 'worker-started' }
  | { type: 'heap-snapshot'; path: string }
  | { type: 'stats'; stats: Record<string, number>; memory: NodeJS.MemoryUsage }
  | { type: 'error'; error: string };

const spec = JSON.parse(process.argv[2] ?? '') as ServerSpec;
const send = (reply: ServerReply): void => {
  process.send?.(reply);
};

try {
  const system = await createTaskwireSystem(spec.databaseUrl, spec.env);
  let app: App | undefined;
  let runner: Runner | undefined;
  let url: string | undefined;
  let warmUp: WarmUpReport | undefined;
  if (spec.server) {
    const { buildApp } = await import('../src/server/app.js');
    // As `npm start` does (SERVER_WARM_UP_MS): a server warms up before it says ready.
    app = buildApp(system.deps, { warmUpMs: system.deps.config.serverWarmUpMs });
    url = (await app.start(spec.port ?? 0, '127.0.0.1')).url;
    // Ready once warmed up, as a load balancer waits for `/readyz`: the scenario starts after it.
    warmUp = await app.warmedUp();
  }
  if (spec.worker) {
    runner = system.deps.createRunner({ concurrency: CONCURRENCY });
    if (!spec.workerPaused) await runner.start();
  }
  process.on('message', (raw) => {
    const request = raw as ServerRequest;
    if (request.type === 'stats') {
      if (request.gc && global.gc) {
        global.gc();
        global.gc();
      }
      send({ type: 'stats', stats: { ...(app?.stats as unknown as Record<string, number>) }, memory: process.memoryUsage() });
    } else if (request.type === 'heap-snapshot') {
      send({ type: 'heap-snapshot', path: writeHeapSnapshot(request.path) });
    } else if (request.type === 'start-worker') {
      void (runner?.start() ?? Promise.reject(new Error('this process has no worker'))).then(
        () => send({ type: 'worker-started' }),
        (error: unknown) => send({ type: 'error', error: error instanceof Error ? error.message : String(error) }),
      );
    } else {
      void (async () => {
        await app?.stop();
        await runner?.stop();
        await system.close();
        process.exit(0);
      })();
    }
  });
  send({ type: 'ready', url, ...(warmUp ? { warmUp } : {}) });
} catch (error) {
  send({ type: 'error', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
