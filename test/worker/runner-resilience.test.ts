import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { abortReasons, eventsOf, executionOrder, heartbeatsFor, releaseStubborn, useQueueTestApp, waitForStatus } from '../helpers/factories.js';
import { refusedWrites } from '../helpers/refused-writes.js';
import { waitFor } from '../helpers/wait.js';

// A runner under trouble: its lease taken away, a missed notification, the database failing.
const env = useQueueTestApp();

/** A logger whose lines the test can read. */
function captureLog(): { log: pino.Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void raw.push(line) });
  return { log, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/**
 * Makes the database refuse every update of tasks where `condition` holds (a trigger `refuse_<name>`
 * standing in for a database that keeps failing that one write, by default as one that cannot take
 * connections now: SQLSTATE 57P03) until `block_<name>` is switched off; other updates go through.
 */
async function refuseUpdates(name: string, condition: string, sqlState = '57P03'): Promise<void> {
  await env.app.sql.unsafe(`
    CREATE TABLE IF NOT EXISTS block_${name} (on_ boolean NOT NULL);
    CREATE OR REPLACE FUNCTION refuse_${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (${condition}) AND EXISTS (SELECT 1 FROM block_${name} WHERE on_) THEN
        RAISE EXCEPTION '${name} refused by the test' USING ERRCODE = '${sqlState}';
      END IF;
      RETURN NEW;
    END $$;
    CREATE OR REPLACE TRIGGER refuse_${name} BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_${name}();
    DELETE FROM block_${name}; INSERT INTO block_${name} VALUES (true);`);
}

/** Every completion refused until `block_success` is switched off. */
const refuseCompletions = (): Promise<void> => refuseUpdates('success', `NEW.status = 'SUCCEEDED'`);

/**
 * Runs the rescuer as if every lease had expired until it takes `id` back: the rescue skips rows
 * another transaction holds (FOR UPDATE SKIP LOCKED), e.g. a heartbeat renewing that very lease
 * on a slow machine, so one run may find nothing.
 */
async function rescueNow(id: string): Promise<{ id: string } | undefined> {
  let rescued: { id: string } | undefined;
  await waitFor(async () => {
    rescued = (await env.app.deps.rescuer.runOnce(new Date(Date.now() + 3_600_000))).find((t) => t.id === id);
    return rescued !== undefined;
  }, { message: 'the rescuer to take the task back' });
  return rescued;
}

describe('runner heartbeat', () => {
  it('keeps the lease of a task whose outcome is still being written, so it is not rescued and run again', async () => {
    await refuseCompletions();
    try {
      const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', args: ['kept'] });
      const runner = env.app.runner({ leaseMs: 400, heartbeatMs: 50, log: captureLog().log });
      await runner.start();
      await waitFor(() => runner.running === 0 && abortReasons.get(task.id) === undefined, { message: 'the handler to be done' });
      const claimed = await waitForStatus(env.app.deps, task.id, 'RUNNING');
      // Over two lease periods pass while the outcome write keeps failing (it is retried for three);
      // heartbeats must keep the lease meanwhile (without them this wait times out).
      await heartbeatsFor(env.app.sql, runner.workerId, 2.5 * 400);
      expect(await env.app.deps.rescuer.runOnce()).toEqual([]);
      await env.app.sql`UPDATE block_success SET on_ = false`;
      const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
      expect(done).toMatchObject({ attempts: 1, workerIds: [runner.workerId], errors: [], returnValue: { args: ['kept'], kwargs: {} } });
      expect(claimed.attempts).toBe(1);
    } finally {
      await env.app.sql.unsafe('DROP TRIGGER IF EXISTS refuse_success ON tasks');
    }
  });

  it('stops claiming while outcomes wait to be written, so a crash leaves little to run again', async () => {
    await refuseCompletions();
    try {
      const tasks = await env.app.deps.queue.enqueueMany(Array.from({ length: 20 }, () => ({ name: 'test.record' })));
      const before = executionOrder.length;
      const runner = env.app.runner({ concurrency: 2, prefetchMs: 0, pollIntervalMs: 20, heartbeatMs: 50, log: captureLog().log });
      await runner.start();
      await waitFor(() => executionOrder.length - before >= 2, { message: 'the first two tasks to run' });
      // Slots are free, tasks are waiting, the poll fires every 20 ms: without the back-pressure
      // the worker would run all 20 while none of their outcomes can be written.
      await heartbeatsFor(env.app.sql, runner.workerId, 300); // some fifteen polls
      expect(executionOrder.length - before).toBe(2);
      const [held] = await env.app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'RUNNING' AND locked_by = ${runner.workerId}`;
      expect(held?.n).toBe(2);
      await env.app.sql`UPDATE block_success SET on_ = false`;
      for (const t of tasks) await waitForStatus(env.app.deps, t.id, 'SUCCEEDED');
      expect(executionOrder.length - before).toBe(20);
    } finally {
      await env.app.sql.unsafe('DROP TRIGGER IF EXISTS refuse_success ON tasks');
    }
  });

  it('stops a task whose lease was taken back by the rescuer, and records nothing over it', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.block', maxAttempts: 2, backoff: { baseMs: 3_600_000, jitter: 0 } });
    const runner = env.app.runner({ heartbeatMs: 50 });
    await runner.start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    // The worker is alive, but the rescuer believes it lost (as after a long network cut).
    const rescued = await rescueNow(task.id);
    expect(rescued).toMatchObject({ id: task.id, status: 'RETRYING', version: 3 });
    await waitFor(() => abortReasons.get(task.id) === 'lost', { message: 'the handler to be aborted as lost' });
    await waitFor(() => runner.running === 0, { message: 'the slot to be freed' });
    const after = await env.app.deps.queue.getTask(task.id);
    expect(after).toMatchObject({ status: 'RETRYING', version: 3 });
    expect(after?.errors.map((e) => e.exceptionType)).toEqual(['WorkerLost']);
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual([
      { version: 1, status: 'PENDING' },
      { version: 2, status: 'RUNNING' },
      { version: 3, status: 'RETRYING' },
    ]);
    await env.app.deps.queue.cancelTask(task.id);
  });

  it('reports as lost, not succeeded, a result the database refused because the rescuer took the attempt back', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.stubborn', maxAttempts: 1 });
    // Heartbeats far apart: the handler returns before one tells the runner its lease is gone.
    const runner = env.app.runner({ heartbeatMs: 60_000, abandonAfterMs: 60_000 });
    const finished: [number, string][] = [];
    runner.on('finished', (t, outcome) => finished.push([t.attempts, outcome]));
    await runner.start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    // As after a long outage: the rescuer fails the attempt while its handler still runs.
    await rescueNow(task.id);
    await waitFor(() => releaseStubborn({ taskId: task.id, attempt: 1 }) === 1, { message: 'the handler to wait' });
    await waitFor(() => finished.length > 0, { message: 'the attempt to end' });
    // Its return value was not written (the completion's guard): the log and metrics must not say succeeded.
    expect(finished).toEqual([[1, 'lost']]);
    expect(await env.app.deps.queue.getTask(task.id)).toMatchObject({ status: 'FAILED', returnValue: null });
    await waitFor(() => runner.running === 0, { message: 'the slot to be freed' });
  });

  it('stores a progress update the database refused, once it takes writes again, before the outcome', async () => {
    // As a database that is away for a while: every write of progress fails until it is back.
    await refuseUpdates('progress', 'NEW.progress IS DISTINCT FROM OLD.progress');
    try {
      const captured = captureLog();
      const task = await env.app.deps.queue.enqueue({ name: 'demo.progress', args: [1, 0] });
      const runner = env.app.runner({ log: captured.log });
      await runner.start();
      await waitFor(() => captured.lines().some((l) => String(l.msg).startsWith('progress update failed') && l.taskId === task.id), {
        message: 'the progress write to be refused',
      });
      await env.app.sql`UPDATE block_progress SET on_ = false`;
      const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
      expect(done.progress).toMatchObject({ current: 1, total: 1, message: 'step 1 of 1' });
      const types = await env.app.sql<{ type: string }[]>`SELECT type FROM task_events WHERE task_id = ${task.id} ORDER BY version`;
      expect(types.map((e) => e.type)).toEqual(['ENQUEUED', 'STARTED', 'PROGRESS', 'SUCCEEDED']);
    } finally {
      await env.app.sql.unsafe('DROP TRIGGER IF EXISTS refuse_progress ON tasks');
    }
  });

  it('drops at once a progress update the database refused for what it is, without keeping the handler waiting', async () => {
    await refuseUpdates('progress', 'NEW.progress IS DISTINCT FROM OLD.progress', 'P0001');
    try {
      const captured = captureLog();
      const task = await env.app.deps.queue.enqueue({ name: 'demo.progress', args: [1, 0] });
      const runner = env.app.runner({ log: captured.log });
      await runner.start();
      // Not retried for three leases (the default lease here is far above the wait's deadline).
      const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
      expect(done.progress).toBeNull();
      const lines = captured.lines().filter((l) => l.taskId === task.id).map((l) => l.msg);
      expect(lines).toEqual(['progress update failed']);
    } finally {
      await env.app.sql.unsafe('DROP TRIGGER IF EXISTS refuse_progress ON tasks');
    }
  });

  it('drops the late outcome of an attempt it still ran when it claimed the same task again', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.stubborn', maxAttempts: 2, backoff: { baseMs: 0, jitter: 0 } });
    // Heartbeats far apart: the stale attempt is not caught by one before the new claim.
    const runner = env.app.runner({ heartbeatMs: 60_000, pollIntervalMs: 20, abandonAfterMs: 60_000 });
    const finished: [number, string][] = [];
    runner.on('finished', (t, outcome) => finished.push([t.attempts, outcome]));
    await runner.start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    // Its lease is taken back (as after the event loop was blocked past the lease) …
    await rescueNow(task.id);
    await env.app.sql`UPDATE tasks SET run_after = now() WHERE id = ${task.id}`;
    // … and the same worker claims attempt 2 while attempt 1's handler still runs.
    await waitFor(async () => (await env.app.deps.queue.getTask(task.id))?.attempts === 2, { message: 'attempt 2' });
    expect(releaseStubborn({ taskId: task.id, attempt: 1 })).toBe(1);
    await waitFor(() => finished.some(([attempt]) => attempt === 1), { message: 'attempt 1 to end' });
    expect(finished).toEqual([[1, 'lost']]);
    expect(await env.app.deps.queue.getTask(task.id)).toMatchObject({ status: 'RUNNING', attempts: 2, returnValue: null });
    expect(runner.running).toBe(1);
    // Attempt 2 is still tracked: its result is the one recorded.
    await waitFor(() => releaseStubborn({ taskId: task.id, attempt: 2 }) === 1, { message: 'attempt 2 to wait' });
    const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    expect(done).toMatchObject({ attempts: 2, returnValue: 'finally done (attempt 2)', workerIds: [runner.workerId, runner.workerId] });
    await waitFor(() => runner.running === 0, { message: 'the slots to be free' });
  });

  it('notices a cancellation whose notification it missed', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.block' });
    await env.app.runner({ heartbeatMs: 50 }).start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    // What requestCancel stores, without its notification on the jobs channel.
    await env.app.sql`UPDATE tasks SET cancel_requested = true, version = version + 1 WHERE id = ${task.id}`;
    const done = await waitForStatus(env.app.deps, task.id, 'CANCELLED');
    expect(abortReasons.get(task.id)).toBe('cancel');
    expect(done.errors).toEqual([]);
  });

  it('acts on a cancel notification only when the database says the cancellation was asked for', async () => {
    const { log, lines } = captureLog();
    const task = await env.app.deps.queue.enqueue({ name: 'test.block' });
    // No heartbeat during the test: only the notification path is looked at.
    await env.app.runner({ heartbeatMs: 60_000, log }).start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    // A notification nobody asked for: anyone who may NOTIFY on the database can send one.
    await env.app.sql`SELECT pg_notify('taskwire_jobs', ${`cancel:${task.id}`})`;
    await waitFor(() => lines().some((l) => l.taskId === task.id && String(l.msg).includes('was not requested')), { message: 'the forged cancel to be read and ignored' });
    expect(abortReasons.has(task.id)).toBe(false);
    expect(await env.app.deps.queue.getTask(task.id)).toMatchObject({ status: 'RUNNING' });
    // A real one still acts at once.
    await env.app.deps.queue.cancelTask(task.id);
    await waitForStatus(env.app.deps, task.id, 'CANCELLED');
    expect(abortReasons.get(task.id)).toBe('cancel');
  });

  it('keeps a long task alive past its lease by renewing it', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.sleep', args: [1200] });
    await env.app.runner({ leaseMs: 600, heartbeatMs: 100 }).start();
    const running = await waitForStatus(env.app.deps, task.id, 'RUNNING');
    const firstLease = running.leaseExpiresAt?.getTime() ?? 0;
    await waitFor(async () => ((await env.app.deps.queue.getTask(task.id))?.leaseExpiresAt?.getTime() ?? 0) > firstLease, {
      message: 'the lease to be renewed',
    });
    // The rescuer, at the real time, finds nothing to take even though 600 ms leases passed.
    await waitFor(async () => (await env.app.deps.queue.getTask(task.id))?.status === 'SUCCEEDED' || (await env.app.deps.rescuer.runOnce()).length > 0);
    expect(await waitForStatus(env.app.deps, task.id, 'SUCCEEDED')).toMatchObject({ attempts: 1, errors: [] });
  });
});

describe('runner heartbeat after an outage', () => {
  it('renews soon after the database takes writes again, not a heartbeat later', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.sleep', args: [20_000] });
    const { log, lines } = captureLog();
    // A heartbeat far off: only the renewal tried again after a failure can come within the deadline below.
    const runner = env.app.runner({ leaseMs: 60_000, heartbeatMs: 4_000, log });
    await runner.start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    const renewals = await refusedWrites(env.app.sql, {
      name: 'renewal',
      table: 'tasks',
      event: 'UPDATE',
      when: 'NEW.lease_expires_at IS DISTINCT FROM OLD.lease_expires_at AND NEW.status = OLD.status',
      sqlState: '57P03',
    });
    try {
      await renewals.block();
      await waitFor(() => lines().some((l) => l.msg === 'heartbeat failed'), { timeoutMs: 10_000, message: 'a renewal refused' });
      const [before] = await env.app.sql`SELECT lease_expires_at FROM tasks WHERE id = ${task.id}`;
      await renewals.unblock();
      const unblockedAt = Date.now();
      await waitFor(async () => {
        const [row] = await env.app.sql`SELECT lease_expires_at FROM tasks WHERE id = ${task.id}`;
        return (row?.leaseExpiresAt as Date).getTime() > (before?.leaseExpiresAt as Date).getTime();
      }, { timeoutMs: 10_000, message: 'the lease renewed' });
      // Well before the next heartbeat (4 s after the refused one).
      expect(Date.now() - unblockedAt).toBeLessThan(2_000);
    } finally {
      await renewals.drop();
      await env.app.deps.queue.cancelTask(task.id);
    }
  });
});

describe('runner claim loop', () => {
  it('survives the database failing its claims, with no error listener, and resumes', async () => {
    const { log, lines } = captureLog();
    const runner = env.app.runner({ log, pollIntervalMs: 20 });
    expect(runner.listenerCount('error')).toBe(0);
    await runner.start();
    await env.app.sql`ALTER TABLE tasks RENAME TO tasks_away`;
    try {
      await waitFor(() => lines().some((l) => l.msg === 'claim failed; retrying'), { message: 'a failed claim' });
    } finally {
      await env.app.sql`ALTER TABLE tasks_away RENAME TO tasks`;
    }
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', args: ['back'] });
    expect(await waitForStatus(env.app.deps, task.id, 'SUCCEEDED')).toMatchObject({ workerIds: [runner.workerId] });
  });

  it('reports failed claims to an error listener when there is one', async () => {
    const runner = env.app.runner({ pollIntervalMs: 20 });
    const errors: unknown[] = [];
    runner.on('error', (e) => errors.push(e));
    await runner.start();
    await env.app.sql`ALTER TABLE tasks RENAME TO tasks_away`;
    try {
      await waitFor(() => errors.length > 0, { message: 'an error event' });
    } finally {
      await env.app.sql`ALTER TABLE tasks_away RENAME TO tasks`;
    }
    expect(errors[0]).toMatchObject({ code: '42P01' }); // undefined_table
  });

  it('survives a listener that throws', async () => {
    const runner = env.app.runner();
    runner.on('claimed', () => {
      throw new Error('listener bug');
    });
    runner.on('finished', () => {
      throw new Error('listener bug');
    });
    await runner.start();
    const tasks = await env.app.deps.queue.enqueueMany([{ name: 'demo.echo' }, { name: 'demo.echo' }]);
    for (const t of tasks) await waitForStatus(env.app.deps, t.id, 'SUCCEEDED');
    await waitFor(() => runner.running === 0);
  });
});
