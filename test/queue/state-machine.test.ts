import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createAppMetrics } from '../../src/metrics/app-metrics.js';
import { createRescuer } from '../../src/queue/maintenance/rescuer.js';
import { captureLog } from '../helpers/log-capture.js';
import { readMetrics, sampleValue } from '../operations/metric-values.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { abortReasons, eventsOf, insertTask, releaseStubborn, useQueueTestApp, waitForStatus } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// Every transition of the state machine in DESIGN.md, each checked for: the row after it,
// `version` +1 per change, and exactly one notification per committed change.
const env = useQueueTestApp();

const FUTURE = () => new Date(Date.now() + 3_600_000);
const FAST = { baseMs: 10, maxMs: 20, factor: 1, jitter: 0 };

/** Versions 1..n, one event each, with these statuses. */
function history(...statuses: string[]): { version: number; status: string }[] {
  return statuses.map((status, i) => ({ version: i + 1, status }));
}

describe('claimTasks / completeTasks', () => {
  it('takes a task PENDING → RUNNING → SUCCEEDED with one event per version', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'math.copysign', args: [3, -2] });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    expect(done).toMatchObject({ version: 3, attempts: 1, returnValue: -3, lockedBy: null, leaseExpiresAt: null });
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'SUCCEEDED'));
  });
});

describe('a failed attempt (failTasks)', () => {
  it('takes a failing attempt RUNNING → RETRYING → RUNNING while attempts are left', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.fail-once', maxAttempts: 2, backoff: FAST });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    expect(done).toMatchObject({ attempts: 2, returnValue: { attempt: 2 }, version: 5 });
    expect(done.errors).toHaveLength(1);
    expect(done.errors[0]).toMatchObject({ attempt: 1, exceptionType: 'Error', message: 'first attempt fails' });
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'RETRYING', 'RUNNING', 'SUCCEEDED'));
  });

  it('takes the last failing attempt RUNNING → FAILED', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.fail', args: ['boom'] });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done).toMatchObject({ attempts: 1, version: 3, returnValue: null });
    expect(done.finishedAt).not.toBeNull();
    expect(done.expiresAt).not.toBeNull();
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'FAILED'));
  });
});

describe('rescuer.runOnce', () => {
  it('turns an expired lease into RETRYING, then FAILED, each with a WorkerLost error naming the worker', async () => {
    // A worker that claimed it and died: its lease has run out (a negative lease, given to the real claim).
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: 'ghost-1', leaseMs: -1000, maxAttempts: 2, backoff: FAST });
    const [retrying] = await env.app.deps.rescuer.runOnce();
    expect(retrying).toMatchObject({ id: task.id, status: 'RETRYING', lockedBy: null, leaseExpiresAt: null, finishedAt: null });
    expect(retrying?.errors).toEqual([expect.objectContaining({ exceptionType: 'WorkerLost', attempt: 1, workerId: 'ghost-1' })]);
    expect(retrying?.errors[0]?.message).toContain('ghost-1');

    // Due again after its backoff (10 ms): a second worker claims it, and dies too.
    await waitFor(async () => (await claimTasks(env.app.sql, { workerId: 'ghost-2', limit: 10, queues: [], leaseMs: -1000 })).length > 0, {
      message: 'the retry to be claimed',
    });
    const [failed] = await env.app.deps.rescuer.runOnce();
    expect(failed).toMatchObject({ id: task.id, status: 'FAILED', attempts: 2, workerIds: ['ghost-1', 'ghost-2'] });
    expect(failed?.errors.map((e) => [e.exceptionType, e.attempt, e.workerId])).toEqual([
      ['WorkerLost', 1, 'ghost-1'],
      ['WorkerLost', 2, 'ghost-2'],
    ]);
    expect(failed?.expiresAt).not.toBeNull();
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'RETRYING', 'RUNNING', 'FAILED'));
  });

  it('tells its listeners and /metrics what it rescued (the dead worker counts nothing), and logs a line per task', async () => {
    const { log, lines } = captureLog();
    const rescuer = createRescuer({ sql: env.app.sql, log, resultTtlMs: 60_000 });
    const metrics = createAppMetrics({ queue: env.app.deps.queue, stats: { subscriptions: 0, events: 0, readQueries: 0, delivered: 0, reconnects: 0 }, log: silentLogger, rescuer });
    try {
      const last = await insertTask(env.app.sql, { status: 'RUNNING', workerId: 'ghost-3', leaseMs: -1000, maxAttempts: 1, queue: 'rescued-q' });
      const again = await insertTask(env.app.sql, { status: 'RUNNING', workerId: 'ghost-3', leaseMs: -1000, maxAttempts: 3, queue: 'rescued-q' });
      expect((await rescuer.runOnce()).map((t) => t.id).sort()).toEqual([last.id, again.id].sort());
      const f = await readMetrics(metrics.registry);
      expect(sampleValue(f, 'taskwire_tasks_rescued_total', { name: last.name, queue: 'rescued-q', result: 'failed' })).toBe(1);
      expect(sampleValue(f, 'taskwire_tasks_rescued_total', { name: again.name, queue: 'rescued-q', result: 'retrying' })).toBe(1);
      const perTask = lines.filter((l) => l.msg === 'task rescued');
      expect(perTask.map((l) => [l.taskId, l.result, l.lostWorkerId]).sort()).toEqual([[last.id, 'failed', 'ghost-3'], [again.id, 'retrying', 'ghost-3']].sort());
      expect(lines.find((l) => l.msg === 'rescued tasks of lost workers')).toMatchObject({ count: 2, byResult: { failed: 1, retrying: 1 }, lostWorkerIds: ['ghost-3'] });
    } finally {
      metrics.close();
    }
  });

  it('leaves leases that have not expired alone', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo' });
    await claimTasks(env.app.sql, { workerId: 'alive', limit: 10, queues: [], leaseMs: 60_000 });
    expect(await env.app.deps.rescuer.runOnce(new Date(Date.now() + 30_000))).toEqual([]);
    expect((await env.app.deps.queue.getTask(task.id))?.status).toBe('RUNNING');
    await env.app.deps.rescuer.runOnce(FUTURE()); // clean up for the next tests
  });
});

describe('cancelTask', () => {
  it('cancels a PENDING task at once', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', runAfter: FUTURE() });
    const cancelled = await env.app.deps.queue.cancelTask(task.id);
    expect(cancelled).toMatchObject({ status: 'CANCELLED', version: 2, cancelRequested: true });
    expect(cancelled.finishedAt).not.toBeNull();
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'CANCELLED'));
  });

  it('cancels a RETRYING task at once', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.fail', maxAttempts: 3, backoff: { baseMs: 3_600_000, jitter: 0 } });
    await env.app.runner().start();
    await waitForStatus(env.app.deps, task.id, 'RETRYING');
    const cancelled = await env.app.deps.queue.cancelTask(task.id);
    expect(cancelled).toMatchObject({ status: 'CANCELLED', version: 4, attempts: 1 });
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'RETRYING', 'CANCELLED'));
  });

  it('fires the AbortSignal of a RUNNING task, which then ends CANCELLED', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.block' });
    const runner = env.app.runner();
    await runner.start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    await waitFor(() => runner.running === 1, { message: 'the runner to count its running task' });
    const requested = await env.app.deps.queue.cancelTask(task.id);
    expect(requested).toMatchObject({ status: 'RUNNING', cancelRequested: true, version: 3 });
    // Asking again while it stops (or once it stopped) is not an error, and changes nothing (events below).
    expect(['RUNNING', 'CANCELLED']).toContain((await env.app.deps.queue.cancelTask(task.id)).status);
    const done = await waitForStatus(env.app.deps, task.id, 'CANCELLED');
    expect(abortReasons.get(task.id)).toBe('cancel');
    expect(done).toMatchObject({ version: 4, errors: [], attempts: 1 });
    await waitFor(() => runner.running === 0, { message: 'the slot to be free' });
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'RUNNING', 'CANCELLED'));
  });

  it('ends CANCELLED, not RETRYING, when the attempt fails before the worker hears of the cancellation', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.stubborn', args: ['fail'], maxAttempts: 3, backoff: FAST });
    await env.app.runner({ heartbeatMs: 60_000 }).start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    // What requestCancel stores, while its wake-up for the worker is still on the way. A direct
    // UPDATE: the real statement would wake the worker, the very thing this test keeps from happening.
    await env.app.sql`UPDATE tasks SET cancel_requested = true WHERE id = ${task.id}`;
    // Meanwhile the handler fails: the worker records a failed attempt, with attempts left.
    await waitFor(() => releaseStubborn() > 0, { message: 'the handler to be waiting' });
    const done = await waitForStatus(env.app.deps, task.id, ['CANCELLED', 'RETRYING', 'FAILED']);
    expect(done).toMatchObject({ status: 'CANCELLED', attempts: 1, lockedBy: null });
    expect(done.finishedAt).not.toBeNull();
    expect(done.errors.map((e) => [e.exceptionType, e.message])).toEqual([['Error', 'failed after all']]);
  });

  it('refuses to cancel a finished task with CONFLICT, and an unknown one with NOT_FOUND', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo' });
    await env.app.runner().start();
    await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    await expect(env.app.deps.queue.cancelTask(task.id)).rejects.toMatchObject({ code: 'CONFLICT', field: 'id' });
    await expect(env.app.deps.queue.cancelTask('0190a000-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(env.app.deps.queue.cancelTask('nope')).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'SUCCEEDED'));
  });
});

describe('retryTask', () => {
  it('puts a FAILED task back to PENDING with its history, and it runs again', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.fail', args: ['again'] });
    const runner = env.app.runner();
    await runner.start();
    const failed = await waitForStatus(env.app.deps, task.id, 'FAILED');
    await runner.stop();
    const retried = await env.app.deps.queue.retryTask(task.id);
    expect(retried).toMatchObject({ status: 'PENDING', version: 4, attempts: 1, workerIds: failed.workerIds, finishedAt: null, expiresAt: null });
    expect(retried.maxAttempts).toBe(2); // one more attempt than it had
    expect(retried.errors).toEqual(failed.errors);
    await env.app.runner().start();
    const again = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(again).toMatchObject({ attempts: 2, version: 6 });
    expect(again.errors.map((e) => e.attempt)).toEqual([1, 2]);
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'FAILED', 'PENDING', 'RUNNING', 'FAILED'));
  });

  it('grants the attempts the task was enqueued with, not its definition\'s, again at every retry', async () => {
    // demo.fail's definition allows 1 attempt; this task was enqueued with 2.
    expect(env.app.deps.registry.get('demo.fail')?.maxAttempts ?? 1).toBe(1);
    const task = await insertTask(env.app.sql, { status: 'FAILED', name: 'demo.fail', attempts: 2, maxAttempts: 2, backoff: FAST });
    expect(await env.app.deps.queue.retryTask(task.id)).toMatchObject({ status: 'PENDING', attempts: 2, maxAttempts: 4 });
    const runner = env.app.runner();
    await runner.start();
    expect(await waitForStatus(env.app.deps, task.id, 'FAILED')).toMatchObject({ attempts: 4, maxAttempts: 4 });
    await runner.stop();
    expect(await env.app.deps.queue.retryTask(task.id)).toMatchObject({ status: 'PENDING', attempts: 4, maxAttempts: 6 });
    await env.app.deps.queue.cancelTask(task.id);
  });

  it('puts a CANCELLED task back to PENDING, and refuses a PENDING one with CONFLICT', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', runAfter: FUTURE() });
    await expect(env.app.deps.queue.retryTask(task.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await env.app.deps.queue.cancelTask(task.id);
    const retried = await env.app.deps.queue.retryTask(task.id);
    expect(retried).toMatchObject({ status: 'PENDING', version: 3, cancelRequested: false });
    expect(retried.runAfter.getTime()).toBeLessThanOrEqual(Date.now() + 1000); // due now, not at the old runAfter
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'CANCELLED', 'PENDING'));
    await env.app.deps.queue.cancelTask(task.id);
  });
});

/**
 * RUNNING in the table is not yet running in the runner: the claim commits before its rows reach
 * the runner, and a claim that lands after stop() began goes straight back (PENDING, never started).
 * Tests of the grace period wait for the handler itself.
 */
async function runningInRunner(runner: { running: number }, id: string): Promise<void> {
  await waitForStatus(env.app.deps, id, 'RUNNING');
  await waitFor(() => runner.running === 1, { message: 'the runner to start the task' });
}

describe('runner.stop', () => {
  it('releases a task still running when the grace period ends: back to PENDING, attempt not counted', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.block' });
    const runner = env.app.runner({ shutdownGraceMs: 50 });
    await runner.start();
    await runningInRunner(runner, task.id);
    await runner.stop();
    expect(abortReasons.get(task.id)).toBe('shutdown');
    const released = await env.app.deps.queue.getTask(task.id);
    expect(released).toMatchObject({ status: 'PENDING', attempts: 0, workerIds: [], startedAt: null, lockedBy: null, version: 3 });
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual(history('PENDING', 'RUNNING', 'PENDING'));
    await env.app.deps.queue.cancelTask(task.id);
  });

  it('still hears of a cancellation during the grace period, at once', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.block' });
    const runner = env.app.runner({ shutdownGraceMs: 20_000, heartbeatMs: 60_000 });
    await runner.start();
    await waitFor(() => runner.running === 1, { message: 'the task to run' });
    const stopping = runner.stop();
    await env.app.deps.queue.cancelTask(task.id);
    const done = await waitForStatus(env.app.deps, task.id, 'CANCELLED', 5000);
    expect(abortReasons.get(task.id)).toBe('cancel');
    expect(done.attempts).toBe(1);
    // A second stop() waits for the same shutdown.
    await runner.stop();
    expect(runner.running).toBe(0);
    await stopping;
  });

  it('waits for a running task that finishes within the grace period', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.sleep', args: [150] });
    const runner = env.app.runner({ shutdownGraceMs: 10_000 });
    await runner.start();
    await runningInRunner(runner, task.id);
    await runner.stop();
    expect(await env.app.deps.queue.getTask(task.id)).toMatchObject({ status: 'SUCCEEDED', returnValue: { sleptMs: 150 } });
  });
});

describe('enqueue in a transaction', () => {
  it('writes and announces nothing when the postgres.js transaction rolls back', async () => {
    let id = '';
    await expect(
      env.app.sql.begin(async (tx) => {
        id = (await env.app.deps.queue.enqueue({ name: 'demo.echo' }, { tx })).id;
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(id).not.toBe('');
    expect(await env.app.deps.queue.getTask(id)).toBeUndefined();
    expect(await eventsOf(env.recorder, env.app.sql, id)).toEqual([]);
  });

  it('makes the task visible and announced only when the postgres.js transaction commits', async () => {
    let id = '';
    await env.app.sql.begin(async (tx) => {
      id = (await env.app.deps.queue.enqueue({ name: 'demo.echo', runAfter: FUTURE() }, { tx })).id;
      expect(await env.app.deps.queue.getTask(id)).toBeUndefined(); // another connection cannot see it yet
      expect(await eventsOf(env.recorder, env.app.sql, id)).toEqual([]); // nor hear of it
    });
    expect((await env.app.deps.queue.getTask(id))?.status).toBe('PENDING');
    expect(await eventsOf(env.recorder, env.app.sql, id)).toEqual(history('PENDING'));
    await env.app.deps.queue.cancelTask(id);
  });

  /** An app's own Drizzle database, on its own postgres.js pool (drizzle() rewires the pool it wraps). */
  async function withDrizzle(fn: (db: PostgresJsDatabase) => Promise<void>): Promise<void> {
    const pool = postgres(env.app.database.url, { max: 1, onnotice: () => undefined });
    try {
      await fn(drizzle(pool));
    } finally {
      await pool.end();
    }
  }

  it('makes the task visible and announced only when the Drizzle transaction commits', async () => {
    let id = '';
    await withDrizzle((db) => db.transaction(async (tx) => {
      id = (await env.app.deps.queue.enqueue({ name: 'demo.echo', runAfter: FUTURE() }, { tx })).id;
      expect(await env.app.deps.queue.getTask(id)).toBeUndefined();
      expect(await eventsOf(env.recorder, env.app.sql, id)).toEqual([]);
    }));
    expect((await env.app.deps.queue.getTask(id))?.status).toBe('PENDING');
    expect(await eventsOf(env.recorder, env.app.sql, id)).toEqual(history('PENDING'));
    await env.app.deps.queue.cancelTask(id);
  });

  it('writes and announces nothing when the Drizzle transaction rolls back', async () => {
    let id = '';
    await expect(
      withDrizzle((db) =>
        db.transaction(async (tx) => {
          id = (await env.app.deps.queue.enqueue({ name: 'demo.echo' }, { tx })).id;
          tx.rollback();
        }),
      ),
    ).rejects.toThrow();
    expect(await env.app.deps.queue.getTask(id)).toBeUndefined();
    expect(await eventsOf(env.recorder, env.app.sql, id)).toEqual([]);
  });
});
