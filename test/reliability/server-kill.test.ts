import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  auditViolations,
  ENQUEUE,
  WATCH,
  type Change,
  freePort,
  gql,
  killHard,
  retryingClient,
  serverUrl,
  spawnCli,
  TASK_AUDIT_SQL,
  watch,
  workerIdOf,
  type RetryingClient,
  type Watched,
} from '../helpers/reliability-processes.js';
import { RELIABILITY_TABLES_SQL, RELIABILITY_TASKS } from '../helpers/reliability-tasks.js';
import type { TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';

// Fault 3: the process serving GraphQL (with its in-process worker: `taskwire dev`) is
// SIGKILLed under 100 open subscriptions, then started again on the same port.
const SUBSCRIPTIONS = 100;
const LEASE_MS = 2000;

let database: TestDatabase;
const processes: TaskwireProcess[] = [];
const clients: RetryingClient[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
  await database.db.sql.unsafe(RELIABILITY_TABLES_SQL);
  await database.db.sql.unsafe(TASK_AUDIT_SQL);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.client.dispose()));
  await Promise.all(processes.map((p) => killHard(p)));
  await database?.drop();
});

describe('the GraphQL server SIGKILLed under open subscriptions', () => {
  it(`comes back on the same port; ${SUBSCRIPTIONS} retrying clients re-subscribe and see every task finish; nothing stuck`, { timeout: 180_000 }, async () => {
    const port = await freePort();
    const env = {
      DATABASE_URL: database.url,
      PORT: String(port),
      TASK_MODULES: RELIABILITY_TASKS,
      LEASE_MS: String(LEASE_MS),
      HEARTBEAT_MS: '500',
      MAINTENANCE_INTERVAL_MS: '300',
      WORKER_CONCURRENCY: '20',
      WORKER_POLL_INTERVAL_MS: '200',
    };
    const first = spawnCli('dev', env);
    processes.push(first);
    const url = await serverUrl(first);
    const firstWorker = await workerIdOf(first);

    const ids: string[] = [];
    for (let i = 0; i < SUBSCRIPTIONS; i++) {
      const res = await gql<{ enqueueTask: { task: { id: string } } }>(url, ENQUEUE, {
        input: { name: 'rel.run', args: [500 + (i % 4) * 500], maxAttempts: 5 },
      });
      ids.push(res.data!.enqueueTask.task.id);
    }
    const streams: Watched<Change>[] = ids.map((id) => {
      const c = retryingClient(url.replace(/^http/, 'ws'));
      clients.push(c);
      return watch<Change>(c.client, WATCH, { id });
    });
    await waitFor(() => streams.every((s) => s.values.length > 0), { timeoutMs: 60_000, message: 'every subscription to get its first state' });
    const running = await waitFor(
      async () => {
        const [row] = await database.db.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'RUNNING'`;
        return Number(row?.n) >= 10 ? Number(row?.n) : undefined;
      },
      { timeoutMs: 30_000, message: 'tasks running in the server process' },
    );

    const [killClock] = await database.db.sql`SELECT clock_timestamp() AS at`;
    const killedAt = performance.now();
    await killHard(first);
    const second = spawnCli('dev', env);
    processes.push(second);
    expect(await serverUrl(second)).toBe(url);
    const upMs = Math.round(performance.now() - killedAt);
    // Reconnected, or ended (an error would show below, when the streams are checked).
    const settledStreams = new Set<number>();
    streams.forEach((s, i) => void s.done.then(() => settledStreams.add(i), () => settledStreams.add(i)));
    await waitFor(() => clients.every((c, i) => c.connections() >= 2 || settledStreams.has(i)), {
      timeoutMs: 60_000,
      message: `every client to reconnect (${clients.filter((c) => c.connections() >= 2).length} of ${clients.length} did)`,
    });
    const reconnectMs = Math.round(performance.now() - killedAt);

    // Every subscription ends with its task's final state, versions never going back.
    const ends = await Promise.all(streams.map((s) => s.done));
    expect(ends.every((e) => e === 'complete')).toBe(true);
    const doneMs = Math.round(performance.now() - killedAt);
    for (const [i, s] of streams.entries()) {
      const versions = s.values.map((v) => v.taskStatusChanged.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(s.values.at(-1)?.taskStatusChanged).toMatchObject({ id: ids[i], status: 'SUCCEEDED' });
    }

    // Nothing lost or stuck: the killed process's tasks were rescued (WorkerLost naming it)
    // once their leases ran out, and finished by the new process.
    const [final] = await database.db.sql`
      SELECT count(*)::int AS tasks,
        count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS succeeded,
        count(*) FILTER (WHERE status = 'RUNNING')::int AS running,
        count(*) FILTER (WHERE errors @> ${JSON.stringify([{ exceptionType: 'WorkerLost', workerId: firstWorker }])}::jsonb)::int AS rescued
      FROM tasks`;
    expect(final).toMatchObject({ tasks: SUBSCRIPTIONS, succeeded: SUBSCRIPTIONS, running: 0 });
    expect(final?.rescued).toBeGreaterThanOrEqual(1);
    // Taken back soon after their leases ran out: lease + a maintenance round or two + the restart.
    const [rescue] = await database.db.sql`
      SELECT round(extract(epoch FROM max(at) - ${killClock?.at as Date}::timestamptz) * 1000)::int AS last_ms FROM task_audit
      WHERE old_status = 'RUNNING' AND old_locked_by = ${firstWorker} AND new_status = 'RETRYING'`;
    expect(rescue?.lastMs).toBeLessThan(LEASE_MS + upMs + 8000);
    expect(await auditViolations(database.db.sql)).toEqual({ twiceSucceeded: 0, changedAfterFinish: 0, versionJumps: 0 });
    console.log(
      `[fault 3: server SIGKILL] ${SUBSCRIPTIONS} subscriptions on ${SUBSCRIPTIONS} graphql-ws clients, ${running} tasks RUNNING in the killed process; ` +
        `new process listening ${upMs} ms after the kill, every client reconnected and re-subscribed by ${reconnectMs} ms, ` +
        `every subscription complete with SUCCEEDED by ${doneMs} ms; ${final?.rescued} tasks rescued, the last ${rescue?.lastMs} ms after the kill (lease ${LEASE_MS} ms); ` +
        `lost 0; stuck RUNNING 0`,
    );
    expect(await second.stop()).toBe(0);
  });
});
