import postgres from 'postgres';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { waitForStatus } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// DB_IDLE_TIMEOUT_MS: a pool grown by a burst gives its connections back to PostgreSQL once they
// sit idle, and opens them again when work comes; the LISTEN connection stays (a worker still hears).
let app: TestApp;
let admin: postgres.Sql;

beforeAll(async () => {
  app = await createTestApp({ env: { DB_IDLE_TIMEOUT_MS: '300', DB_POOL_SIZE: '4' } });
  admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
});

afterAll(async () => {
  await app?.close();
  await admin?.end();
});

const alive = async (pids: number[]): Promise<number> =>
  Number((await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY(${pids}::int[])`)[0]?.n);

it('closes pooled connections left idle, keeps LISTEN, and opens them again for the next burst', async () => {
  const burst = async (): Promise<number[]> => {
    const rows = await Promise.all(Array.from({ length: 4 }, () => app.sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`));
    return [...new Set(rows.map((r) => r[0]!.pid))];
  };
  // A worker whose claims are woken by notifications only (its poll is a minute away).
  const runner = await app.startRunner({ pollIntervalMs: 60_000 });
  const pids = await burst();
  expect(pids.length).toBeGreaterThan(1);
  const listener = await app.sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen %'`;
  expect(listener.length).toBeGreaterThan(0);

  await waitFor(async () => (await alive(pids)) === 0, { message: 'the idle pooled connections to be closed' });
  expect(await alive(listener.map((l) => l.pid))).toBe(listener.length);

  expect((await burst()).length).toBeGreaterThan(1);
  // The LISTEN connection still hears: a task enqueued now is claimed at its notification.
  const task = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['after idle'] });
  await waitForStatus(app.deps, task.id, 'SUCCEEDED');
  await runner.stop();
});
