import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { spawnTaskwire, type TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';

// src/cli/process.ts starts the server (and its /metrics hooks on the runner) before the worker:
// tasks already waiting are claimed in the worker's first moments, and each claim is counted.
const WAITING = 30;
let app: TestApp;
let dev: TaskwireProcess | undefined;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(async () => {
  await dev?.stop();
  await app?.close();
});

function metric(text: string, name: string): number {
  const values = text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
  return values.reduce((sum, v) => sum + v, 0);
}

describe('taskwire dev', () => {
  it('counts every attempt its worker starts, even of tasks waiting before it started', async () => {
    await app.deps.queue.enqueueMany(Array.from({ length: WAITING }, () => ({ name: 'math.copysign', args: [1, -1] })));
    dev = spawnTaskwire(['dev'], { DATABASE_URL: app.database.url, HOST: '127.0.0.1', PORT: '0', WORKER_POLL_INTERVAL_MS: '100', DB_POOL_SIZE: '4' });
    const url = (await dev.waitForLog((l) => typeof l.url === 'string')).url as string;
    await waitFor(
      async () => {
        const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'SUCCEEDED'`;
        return row?.n === WAITING;
      },
      { timeoutMs: 20_000, message: 'the waiting tasks to succeed' },
    );
    // The process counts a finish once it has read its commit's reply, which the database shows
    // first: on a busy machine the rows can be SUCCEEDED a moment before the counter moves.
    const metricsUrl = url.replace(/\/graphql$/, '/metrics');
    const counts = async () => {
      const text = await (await fetch(metricsUrl)).text();
      return { started: metric(text, 'taskwire_tasks_started_total'), finished: metric(text, 'taskwire_tasks_finished_total') };
    };
    await expect.poll(counts, { timeout: 10_000 }).toEqual({ started: WAITING, finished: WAITING });
    expect(await dev.stop()).toBe(0);
    dev = undefined;
  });
});
