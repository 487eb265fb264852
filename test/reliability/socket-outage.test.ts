import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { isDatabaseUnavailable } from '../../src/errors.js';
import { createRegistry } from '../../src/worker/registry.js';
import { createGates } from '../helpers/gates.js';
import { captureLog } from '../helpers/log-capture.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/reliability-postgres.js';
import { waitFor } from '../helpers/wait.js';

// PostgreSQL restarting under a worker and a queue that reach it by its Unix socket. A stopped
// PostgreSQL removes its socket file, so every connection fails with ENOENT where TCP says
// ECONNREFUSED: that must read as "the database is away" (src/errors.ts), or an enqueue answers
// INTERNAL_SERVER_ERROR and a finished task's result is given up after the write's retry window
// and the task run again (a tester's finding, session 47).
const LEASE_MS = 500;
const RETRY_FOR_MS = 3 * LEASE_MS; // src/worker/runner.ts: how long a failing write is retried for anything

const gates = createGates();
let pg: PrivatePostgres;
let deps: Deps;
const capture = captureLog('warn');

beforeAll(async () => {
  pg = await startPrivatePostgres();
  const tcp = new URL(pg.url);
  const admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
  const [row] = await admin<Array<{ dirs: string }>>`SELECT current_setting('unix_socket_directories') AS dirs`;
  await admin.end();
  const dir = row!.dirs.split(',')[0]!.trim();
  expect(dir).toMatch(/^\//);
  const socketUrl = `postgresql://${tcp.username}:${tcp.password}@/${tcp.pathname.slice(1)}?host=${encodeURIComponent(dir)}&port=${tcp.port}`;
  deps = await createDeps(loadConfig({ LOG_LEVEL: 'silent' }), { databaseUrl: socketUrl, log: capture.log, registry: createRegistry(gates.tasks) });
});
afterAll(async () => {
  await deps?.close();
  await pg?.destroy();
});

describe('a PostgreSQL reached by its Unix socket, restarted', () => {
  it('is "away" while its socket is gone: an enqueue is refused as unavailable, and a result finished meanwhile is kept and recorded once it is back', { timeout: 60_000 }, async () => {
    const runner = deps.createRunner({ concurrency: 1, pollIntervalMs: 50, leaseMs: LEASE_MS, heartbeatMs: 150, shutdownGraceMs: 1000 });
    await runner.start();
    try {
      const task = await deps.queue.enqueue({ name: 'test.gate', args: ['socket-outage'] });
      await waitFor(async () => (await deps.queue.getTask(task.id))?.status === 'RUNNING', { message: 'the task running' });

      await pg.stop();
      const refused = await deps.queue.enqueue({ name: 'test.gate', args: ['never'] }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect((refused as { code?: string } | undefined)?.code).toBe('ENOENT');
      expect(isDatabaseUnavailable(refused)).toBe(true);

      // The handler returns while the database is away; its outcome's write fails, and is retried.
      gates.open('socket-outage');
      await waitFor(() => capture.lines.some((l) => l.msg === 'recording the outcome failed; retrying'), { message: 'the outcome tried and refused' });
      const firstRefusal = performance.now();
      // The outage outlasts the window in which any failed write is retried: past it, only a database
      // that is away keeps the result (write-retry.ts); this waits on the clock because the window is time.
      await waitFor(() => performance.now() - firstRefusal > 2 * RETRY_FOR_MS, { message: 'the retry window to pass', timeoutMs: 10_000 });

      await pg.start();
      await waitFor(async () => (await deps.queue.getTask(task.id))?.status === 'SUCCEEDED', {
        message: `the result recorded after the restart (log: ${JSON.stringify(capture.lines.map((l) => l.msg))})`,
        timeoutMs: 20_000,
      });
      expect(await deps.queue.getTask(task.id)).toMatchObject({ status: 'SUCCEEDED', attempts: 1, returnValue: 'socket-outage' });
      expect(capture.lines.map((l) => l.msg)).not.toContain('could not record the outcome; the rescuer will take the task back');
    } finally {
      await runner.stop();
    }
  });
});
