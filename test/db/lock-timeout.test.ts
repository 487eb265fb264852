import { setTimeout as delay } from 'node:timers/promises';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { waitForStatus } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// DB_LOCK_TIMEOUT_MS: a table locked by another session (maintenance, a migration stuck behind a long
// transaction) used to hold every request, and every pooled connection, for as long as it lasted, with
// no error and no log line. A request now fails after the timeout, answered DATABASE_UNAVAILABLE
// (nothing done, try again), and a worker's outcome waiting behind the lock is retried, not lost.
let server: TestServer;
let gates: Gates;
let locker: postgres.Sql;

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: gates.tasks, env: { DB_LOCK_TIMEOUT_MS: '300' } });
  // Two connections: one holds the lock, the other watches pg_stat_activity meanwhile.
  locker = postgres(server.database.url, { max: 2, onnotice: () => undefined });
});

afterAll(async () => {
  await server?.close();
  await locker?.end();
});

/** Runs `body` while another session holds `tasks` in ACCESS EXCLUSIVE mode; the lock goes with it. */
async function withTableLocked<T>(body: (lockHeld: () => boolean) => Promise<T>): Promise<T> {
  const held = await locker.reserve();
  let holding = true;
  try {
    await held`BEGIN`;
    await held`LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE`;
    return await body(() => holding);
  } finally {
    holding = false;
    await held`ROLLBACK`;
    held.release();
  }
}

/** Statements of the app's pool waiting for a lock, with the start of each. */
async function waitingStatements(like: string): Promise<string[]> {
  const rows = await locker<{ started: string }[]>`
    SELECT query_start::text AS started FROM pg_stat_activity
    WHERE application_name = 'taskwire' AND wait_event_type = 'Lock' AND query ILIKE ${like}`;
  return rows.map((r) => r.started);
}

describe('DB_LOCK_TIMEOUT_MS', () => {
  it('is every pooled session’s lock_timeout', async () => {
    const [row] = await server.sql<{ lockTimeout: string }[]>`SHOW lock_timeout`;
    expect(row?.lockTimeout).toBe('300ms');
  });

  it('answers a request waiting behind a locked table DATABASE_UNAVAILABLE, naming the setting, while the lock is still held', async () => {
    const before = await server.countTasks();
    await withTableLocked(async (lockHeld) => {
      const request = server.post({ query: 'mutation { enqueueTask(input: { name: "demo.echo", args: ["locked out"] }) { task { id } } }' });
      // Without a lock timeout the request waits as long as the lock: give up on it well before the test's limit.
      const res = await Promise.race([request, delay(20_000).then(() => Promise.reject(new Error('the request waited behind the lock')))]);
      // Answered while the lock is held: without the timeout the request waits for the lock's end.
      expect(lockHeld()).toBe(true);
      expect(res.status).toBe(200);
      expect(res.errors?.[0]?.extensions?.code).toBe('DATABASE_UNAVAILABLE');
      expect(res.errors?.[0]?.message).toMatch(/did not grant a lock within DB_LOCK_TIMEOUT_MS.*nothing was done, try again/);
      expect(JSON.stringify(res.errors)).not.toMatch(/55P03|canceling statement|stack/i);
    });
    // Nothing was stored, and the next request goes through.
    expect(await server.countTasks()).toBe(before);
    const id = await server.enqueue('demo.echo', ['after the lock']);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps trying a finished task’s outcome that timed out waiting for a lock, and stores it once the lock is gone', async () => {
    // A lease far longer than the hold, so that the rescuer has no part in it.
    await server.startRunner({ leaseMs: 60_000, heartbeatMs: 20_000 });
    const id = await server.enqueue('test.gate', ['locked-outcome']);
    await waitForStatus(server.deps, id, 'RUNNING');
    await withTableLocked(async () => {
      gates.open('locked-outcome');
      // The completion waits for the lock, times out, and is sent again: two waits with different starts.
      const starts = new Set<string>();
      await waitFor(
        async () => {
          for (const started of await waitingStatements('%taskwire_complete%')) starts.add(started);
          return starts.size >= 2;
        },
        { message: 'the completion to time out on the lock and be tried again' },
      );
    });
    const task = await waitForStatus(server.deps, id, 'SUCCEEDED');
    expect(task.returnValue).toBe('locked-outcome');
    await server.stopRunners();
  });
});
