import { describe, expect, it } from 'vitest';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { releaseTasks } from '../../src/queue/sql/release-tasks.js';
import { decodeVersionCursor, encodeVersionCursor, listTaskEvents, readEventsAfter } from '../../src/queue/event-log.js';
import { expectCompleteLogs, logOf } from '../helpers/event-log.js';
import { releaseStubborn, useQueueTestApp, waitForStatus } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// Every path that changes a task writes exactly one event per version, in the same statement.
const env = useQueueTestApp();
const FAST = { baseMs: 10, maxMs: 20, factor: 1, jitter: 0 };
const FUTURE = () => new Date(Date.now() + 3_600_000);

describe('the event log', () => {
  it('records the seed example as ENQUEUED, STARTED, SUCCEEDED with the worker and attempt', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'math.copysign', args: [1, -1] });
    const runner = env.app.runner();
    await runner.start();
    await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    const page = await env.app.deps.queue.listTaskEvents({ taskId: task.id });
    expect(page.events.map((e) => [e.version, e.type, e.status, e.attempt, e.workerId])).toEqual([
      [1, 'ENQUEUED', 'PENDING', 0, null],
      [2, 'STARTED', 'RUNNING', 1, runner.workerId],
      [3, 'SUCCEEDED', 'SUCCEEDED', 1, runner.workerId],
    ]);
    expect(page.hasNextPage).toBe(false);
    await expectCompleteLogs(env.app.sql);
  });

  it('records a retry, a final failure with its error, and retryTask', async () => {
    const once = await env.app.deps.queue.enqueue({ name: 'test.fail-once', maxAttempts: 2, backoff: FAST });
    const fail = await env.app.deps.queue.enqueue({ name: 'demo.fail', args: ['boom'] });
    await env.app.runner().start();
    await waitForStatus(env.app.deps, once.id, 'SUCCEEDED');
    await waitForStatus(env.app.deps, fail.id, 'FAILED');
    expect((await logOf(env.app.sql, once.id)).map(([, type]) => type)).toEqual([
      'ENQUEUED', 'STARTED', 'RETRY_SCHEDULED', 'STARTED', 'SUCCEEDED',
    ]);
    const retryEvent = (await env.app.deps.queue.listTaskEvents({ taskId: once.id, types: ['RETRY_SCHEDULED'] })).events[0];
    expect(retryEvent).toMatchObject({ version: 3, status: 'RETRYING', attempt: 1, error: { message: 'first attempt fails', attempt: 1 } });

    const failed = (await env.app.deps.queue.listTaskEvents({ taskId: fail.id, types: ['FAILED'] })).events[0];
    expect(failed).toMatchObject({ version: 3, status: 'FAILED', error: { message: 'boom', exceptionType: 'DemoFailure' } });
    await env.app.stopRunners();
    await env.app.deps.queue.retryTask(fail.id);
    expect((await logOf(env.app.sql, fail.id)).at(-1)).toEqual([4, 'RETRIED', 'PENDING']);
    await expectCompleteLogs(env.app.sql);
  });

  it('records progress, a cancel request and the cancellation of a running task', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.block' });
    const pending = await env.app.deps.queue.enqueue({ name: 'demo.echo', runAfter: FUTURE() });
    await env.app.runner().start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    await env.app.deps.queue.cancelTask(task.id);
    await waitForStatus(env.app.deps, task.id, 'CANCELLED');
    await env.app.deps.queue.cancelTask(pending.id);
    expect(await logOf(env.app.sql, task.id)).toEqual([
      [1, 'ENQUEUED', 'PENDING'],
      [2, 'STARTED', 'RUNNING'],
      [3, 'CANCEL_REQUESTED', 'RUNNING'],
      [4, 'CANCELLED', 'CANCELLED'],
    ]);
    expect(await logOf(env.app.sql, pending.id)).toEqual([
      [1, 'ENQUEUED', 'PENDING'],
      [2, 'CANCELLED', 'CANCELLED'],
    ]);

    const steps = await env.app.deps.queue.enqueue({ name: 'demo.progress', args: [2, 1] });
    await waitForStatus(env.app.deps, steps.id, 'SUCCEEDED');
    const progress = (await env.app.deps.queue.listTaskEvents({ taskId: steps.id, types: ['PROGRESS'] })).events;
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)?.progress).toMatchObject({ current: 2, total: 2 });
    await expectCompleteLogs(env.app.sql);
  });

  it('records a rescue (worker lost) and a release (shutdown) with the attempt they ended', async () => {
    const lost = await env.app.deps.queue.enqueue({ name: 'demo.echo', maxAttempts: 2, backoff: FAST });
    await claimTasks(env.app.sql, { workerId: 'ghost', limit: 1, queues: [], leaseMs: 1000 });
    await env.app.deps.rescuer.runOnce(FUTURE());
    const rescued = (await env.app.deps.queue.listTaskEvents({ taskId: lost.id, types: ['RESCUED'] })).events[0];
    expect(rescued).toMatchObject({ version: 3, status: 'RETRYING', attempt: 1, workerId: 'ghost', error: { exceptionType: 'WorkerLost' } });

    const released = await env.app.deps.queue.enqueue({ name: 'demo.echo', priority: 100 });
    const [claimed] = await claimTasks(env.app.sql, { workerId: 'leaving', limit: 1, queues: [], leaseMs: 60_000 });
    expect(claimed?.id).toBe(released.id);
    const heard = env.recorder.jobs.length;
    await releaseTasks(env.app.sql, { workerId: 'leaving', attempts: [{ id: released.id, attempt: 1 }], defaultTtlMs: 60_000 });
    const [event] = (await env.app.deps.queue.listTaskEvents({ taskId: released.id, types: ['RELEASED'] })).events;
    expect(event).toMatchObject({ version: 3, status: 'PENDING', attempt: 1, workerId: 'leaving' });
    // Due as it was, not from now: its queue's oldest-waiting age does not restart at a hand-back.
    expect((await env.app.deps.queue.getTask(released.id))?.runAfter.getTime()).toBe(released.runAfter.getTime());
    // Its queue is woken, as by an enqueue: an idle worker takes it now, not at its next poll.
    await waitFor(() => env.recorder.jobs.slice(heard).includes('default'), { message: 'a wake-up for the queue of the task handed back' });
    // Out of the way of the next tests (the rescued task waits for its backoff).
    await env.app.deps.queue.cancelTask(lost.id);
    await env.app.deps.queue.cancelTask(released.id);
    await expectCompleteLogs(env.app.sql);
  });

  it('writes one ENQUEUED event per task of enqueueMany, and none for a transaction that rolls back', async () => {
    const tasks = await env.app.deps.queue.enqueueMany(
      Array.from({ length: 50 }, (_, i) => ({ name: 'demo.echo', args: [i], runAfter: FUTURE() })),
    );
    const events = await readEventsAfter(env.app.sql, tasks.map((t) => ({ id: t.id, afterVersion: 0 })), 10);
    expect(events.map((e) => [e.taskId, e.version, e.type])).toEqual(tasks.map((t) => [t.id, 1, 'ENQUEUED']));

    const before = await env.app.sql`SELECT count(*)::int AS n FROM task_events`;
    await expect(
      env.app.sql.begin(async (tx) => {
        await env.app.deps.queue.enqueue({ name: 'demo.echo' }, { tx });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    const after = await env.app.sql`SELECT count(*)::int AS n FROM task_events`;
    expect(after[0]?.n).toBe(before[0]?.n);
    await env.app.deps.queue.cancelTask(tasks[0]!.id);
    await expectCompleteLogs(env.app.sql);
  });

  it('pages a log oldest first by version, filtered by type', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.stubborn' });
    await env.app.runner().start();
    await waitForStatus(env.app.deps, task.id, 'RUNNING');
    await waitFor(() => releaseStubborn() > 0, { message: 'the handler to wait' });
    await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    const first = await env.app.deps.queue.listTaskEvents({ taskId: task.id, first: 2 });
    expect(first.events.map((e) => e.version)).toEqual([1, 2]);
    expect(first.hasNextPage).toBe(true);
    const rest = await env.app.deps.queue.listTaskEvents({ taskId: task.id, afterVersion: 2, first: 2 });
    expect(rest.events.map((e) => e.type)).toEqual(['SUCCEEDED']);
    expect(rest.hasNextPage).toBe(false);
    expect((await listTaskEvents(env.app.sql, { taskId: task.id, types: ['STARTED', 'SUCCEEDED'] })).events.map((e) => e.version)).toEqual([2, 3]);
    await expect(env.app.deps.queue.listTaskEvents({ taskId: task.id, first: 5000 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('deletes a task’s events with the task when its retention runs out', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'math.copysign', args: [1, -1] });
    await env.app.runner().start();
    await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    expect(await logOf(env.app.sql, task.id)).toHaveLength(3);
    await env.app.deps.cleaner.runOnce(new Date(Date.now() + 10 * 86_400_000));
    expect(await env.app.deps.queue.getTask(task.id)).toBeUndefined();
    expect(await logOf(env.app.sql, task.id)).toEqual([]);
  });
});

describe('decodeVersionCursor', () => {
  it('takes plain decimal digits within int4 (the version column) and refuses anything else with BAD_USER_INPUT naming the field', () => {
    const cursor = (text: string): string => Buffer.from(text).toString('base64url');
    for (const version of [0, 1, 42, 2_147_483_647]) expect(decodeVersionCursor(encodeVersionCursor(version), 'after')).toBe(version);
    for (const text of ['version:2147483648', 'version:9007199254740991', 'version:', 'version:1e3', 'version:0x10', 'version:-1', 'version: 1', 'version:1 ', 'version:1.0', 'nope:1']) {
      expect(() => decodeVersionCursor(cursor(text), 'after'), text).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'after' }));
    }
  });
});
