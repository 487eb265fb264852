import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildWorker, type ChildWorker } from '../helpers/child-workers.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { alive, auditViolations, killHard, spawnCli, TASK_AUDIT_SQL, workerIdOf } from '../helpers/reliability-processes.js';
import { RELIABILITY_TABLES_SQL, RELIABILITY_TASKS, reliabilityTasks } from '../helpers/reliability-tasks.js';
import type { TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';

// Fault 4: SIGTERM to a real `taskwire worker` process under load. It stops claiming,
// finishes what ends within SHUTDOWN_GRACE_MS, hands back the rest, and exits 0.
const GRACE_MS = 1500;
const LONG_MS = 60_000; // far longer than anything before the SIGTERM: still running then, whatever the machine's speed
let app: QueueTestApp;
let cli: TaskwireProcess | undefined;
let other: ChildWorker | undefined;
beforeAll(async () => {
  app = await createQueueTestApp({}, reliabilityTasks);
  await app.sql.unsafe(RELIABILITY_TABLES_SQL);
  await app.sql.unsafe(TASK_AUDIT_SQL);
});
afterAll(async () => {
  if (cli) await killHard(cli);
  if (other && alive(other)) await other.kill();
  await app.close();
});

const workerEnv = { TASK_MODULES: RELIABILITY_TASKS, LEASE_MS: '2000', HEARTBEAT_MS: '500', WORKER_POLL_INTERVAL_MS: '100' };

describe('graceful shutdown of a worker under load', () => {
  it('on SIGTERM stops claiming, finishes or releases its tasks within the grace period, exits 0, holds nothing', { timeout: 120_000 }, async () => {
    cli = spawnCli('worker', {
      ...workerEnv,
      DATABASE_URL: app.database.url,
      WORKER_CONCURRENCY: '8',
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      MAINTENANCE_INTERVAL_MS: '60000',
    });
    const doomed = await workerIdOf(cli);
    // Tasks that outlast the grace period, running on the worker to be stopped.
    const long = await app.deps.queue.enqueueMany(Array.from({ length: 3 }, () => ({ name: 'rel.run', args: [LONG_MS], priority: 10 })));
    await waitFor(
      async () => {
        const rows = await app.deps.queue.getTasks(long.map((t) => t.id));
        return rows.every((t) => t.status === 'RUNNING' && t.lockedBy === doomed);
      },
      { timeoutMs: 30_000, message: 'the long tasks to run on the worker to be stopped' },
    );
    // Load: a second worker and a steady stream of short tasks.
    other = await startChildWorker(app.database.url, { ...workerEnv, WORKER_CONCURRENCY: '8' });
    const short = await app.deps.queue.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ name: 'rel.run', args: [50 + (i % 5) * 50] })));
    await waitFor(
      async () => {
        const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'SUCCEEDED' AND worker_ids = ARRAY[${doomed}]::text[]`;
        return Number(row?.n) >= 20;
      },
      { timeoutMs: 30_000, message: 'the worker to be stopped to be busy with short tasks' },
    );

    const signalled = performance.now();
    const code = await cli.stop(GRACE_MS + 10_000);
    const exitMs = Math.round(performance.now() - signalled);
    expect(code).toBe(0);
    const waiting = cli.logs.find((l) => l.msg === 'waiting for running tasks');
    const graceOver = cli.logs.find((l) => l.msg === 'grace period over; releasing running tasks');
    expect(waiting).toBeDefined();
    expect(graceOver).toBeDefined();
    const graceMs = Number(graceOver!.time) - Number(waiting!.time);
    expect(graceMs).toBeGreaterThanOrEqual(GRACE_MS - 50);
    // Upper bounds with room for a loaded machine; the exit is normally ~40 ms after the grace.
    expect(graceMs).toBeLessThan(GRACE_MS + 3000);
    expect(exitMs).toBeLessThan(GRACE_MS + 10_000);

    // It holds nothing, and claimed nothing once it had begun waiting.
    const [held] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'RUNNING' AND locked_by = ${doomed}`;
    expect(held?.n).toBe(0);
    const [lateClaims] = await app.sql`
      SELECT count(*)::int AS n FROM task_audit
      WHERE new_status = 'RUNNING' AND new_locked_by = ${doomed} AND at > to_timestamp(${Number(waiting!.time)} / 1000.0)`;
    expect(lateClaims?.n).toBe(0);
    // Each of its attempts ended by its own hand: finished, or released, never rescued.
    const [ends] = await app.sql`
      SELECT count(*) FILTER (WHERE new_status = 'SUCCEEDED')::int AS finished,
             count(*) FILTER (WHERE new_status IN ('PENDING', 'RETRYING'))::int AS released,
             count(*) FILTER (WHERE new_status NOT IN ('SUCCEEDED', 'PENDING', 'RETRYING'))::int AS other
      FROM task_audit WHERE old_status = 'RUNNING' AND old_locked_by = ${doomed} AND new_locked_by IS NULL`;
    const [claims] = await app.sql`SELECT count(*)::int AS n FROM task_audit WHERE new_status = 'RUNNING' AND new_locked_by = ${doomed}`;
    // Released: the long tasks cut off by the grace period, plus any short task claimed ahead
    // (WORKER_PREFETCH_MS) that had not started when the shutdown began.
    expect(ends).toMatchObject({ other: 0 });
    expect(Number(ends?.released)).toBeGreaterThanOrEqual(long.length);
    expect(Number(ends?.finished) + Number(ends?.released)).toBe(claims?.n);

    // Nothing is lost: the short tasks all succeed; the released ones run again elsewhere as
    // first attempts (then are cancelled, rather than waited for).
    await waitFor(
      async () => (await app.deps.queue.getTasks(short.map((t) => t.id))).every((t) => t.status === 'SUCCEEDED'),
      { timeoutMs: 30_000, intervalMs: 100, message: 'every short task to succeed' },
    );
    const otherId = other.workerId;
    await waitFor(
      async () => (await app.deps.queue.getTasks(long.map((t) => t.id))).every((t) => t.status === 'RUNNING' && t.lockedBy === otherId),
      { timeoutMs: 30_000, message: 'the released tasks to run on the other worker' },
    );
    for (const t of await app.deps.queue.getTasks(long.map((x) => x.id))) {
      expect(t).toMatchObject({ attempts: 1, workerIds: [otherId], errors: [] });
      await app.deps.queue.cancelTask(t.id);
    }
    await waitFor(async () => (await app.deps.queue.getTasks(long.map((t) => t.id))).every((t) => t.status === 'CANCELLED'), {
      timeoutMs: 30_000,
      message: 'the long tasks to be cancelled',
    });
    expect(await auditViolations(app.sql)).toEqual({ twiceSucceeded: 0, changedAfterFinish: 0, versionJumps: 0 });
    console.log(
      `[fault 4: graceful shutdown] SIGTERM under load: waited ${graceMs} ms (grace ${GRACE_MS}), exited 0 after ${exitMs} ms; ` +
        `${ends?.finished} tasks finished and ${ends?.released} released by it after claiming ${claims?.n}; 0 left RUNNING; 0 lost`,
    );
    expect((await other.stop()).code).toBe(0);
  });
});
