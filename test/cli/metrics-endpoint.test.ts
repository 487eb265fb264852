import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { spawnTaskwire, type TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from './run-cli.js';

// A `taskwire worker` process has no GraphQL server: with METRICS_PORT it serves /metrics and
// /healthz on a port of its own (src/cli/process.ts, src/cli/metrics-endpoint.ts).
const TASKS = 12;
let app: QueueTestApp;
let worker: TaskwireProcess | undefined;
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await worker?.stop();
  await app?.close();
});

function metric(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('taskwire worker with METRICS_PORT', () => {
  it('serves /metrics counting its own attempts, /healthz, and 404 elsewhere; stops cleanly', async () => {
    await app.deps.queue.enqueueMany(Array.from({ length: TASKS }, () => ({ name: 'math.copysign', args: [1, -1] })));
    worker = spawnTaskwire(['worker'], { DATABASE_URL: app.database.url, HOST: '127.0.0.1', METRICS_PORT: '0', WORKER_POLL_INTERVAL_MS: '100', DB_POOL_SIZE: '4' });
    const url = String((await worker.waitForLog((l) => typeof l.url === 'string' && l.url.endsWith('/metrics'))).url);
    await waitFor(
      async () => {
        const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'SUCCEEDED'`;
        return row?.n === TASKS;
      },
      { timeoutMs: 20_000, message: 'the tasks to succeed' },
    );
    const metrics = await fetch(url);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(metric(text, 'taskwire_tasks_started_total')).toBe(TASKS);
    expect(metric(text, 'taskwire_tasks_finished_total')).toBe(TASKS);
    const base = url.slice(0, -'/metrics'.length);
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    expect((await fetch(`${base}/graphql`)).status).toBe(404);
    // Its own responses, the scrape above included.
    const counted = await (await fetch(url)).text();
    expect(metric(counted, 'taskwire_http_responses_total{route="healthz",code="200"}')).toBe(1);
    expect(metric(counted, 'taskwire_http_responses_total{route="graphql",code="404"}')).toBe(1);
    expect(metric(counted, 'taskwire_http_responses_total{route="metrics",code="200"}')).toBe(1);
    expect(await worker.stop()).toBe(0);
    worker = undefined;
    await expect(fetch(url)).rejects.toThrow();
  });

  it('says /readyz 503 stopping from the first step of a graceful stop, while its running task still has its grace', async () => {
    const [task] = await app.deps.queue.enqueueMany([{ name: 'demo.sleep', args: [600_000] }]);
    const stopping = spawnTaskwire(['worker'], {
      DATABASE_URL: app.database.url, HOST: '127.0.0.1', METRICS_PORT: '0', WORKER_POLL_INTERVAL_MS: '100', DB_POOL_SIZE: '4', SHUTDOWN_GRACE_MS: '600000',
    });
    worker = stopping;
    const base = String((await stopping.waitForLog((l) => typeof l.url === 'string' && l.url.endsWith('/metrics'))).url).slice(0, -'/metrics'.length);
    await waitFor(async () => (await app.deps.queue.getTask(task!.id))?.status === 'RUNNING', { timeoutMs: 20_000, message: 'the task to run' });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const exited = stopping.stop(30_000);
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 503, { timeoutMs: 10_000, message: '/readyz to say stopping' });
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'stopping' });
    // The task is in its grace period, not handed back: the worker is stopping, not stopped.
    expect((await app.deps.queue.getTask(task!.id))?.status).toBe('RUNNING');
    await app.deps.queue.cancelTask(task!.id);
    expect(await exited).toBe(0);
    worker = undefined;
    expect((await app.deps.queue.getTask(task!.id))?.status).toBe('CANCELLED');
  });

  it('exits 2 with one line naming HOST and METRICS_PORT when its port is taken, not an unexpected error', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const result = await runCli(['worker'], { DATABASE_URL: app.database.url, HOST: '127.0.0.1', METRICS_PORT: String(port), DB_POOL_SIZE: '2' });
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n').at(-1)).toBe(
        `taskwire: cannot listen on 127.0.0.1:${port}: the address is already in use (another process listens there: a second npm start?); set HOST and METRICS_PORT to another`,
      );
      // Its worker never started: nothing says it stopped (that line once came last, under the error).
      expect(result.stderr).not.toContain('worker stopped');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
