import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { logTaskLifecycle } from '../../src/metrics/task-log.js';
import { copysign } from '../../src/worker/examples.js';
import { UNKNOWN_TASK_GRACE_MS } from '../../src/worker/execute-task.js';
import { createRegistry } from '../../src/worker/registry.js';
import { abortReasons, eventsOf, releaseStubborn, useQueueTestApp, waitForStatus } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// What one attempt can end in, run by a real runner: results, errors, timeouts, and the
// handlers that misbehave (throw non-Errors, return what cannot be stored, ignore aborts).
const env = useQueueTestApp();

const FAST = { baseMs: 20, maxMs: 40, factor: 2, jitter: 0 };

describe('createRunner', () => {
  it('runs math.copysign(1, -1) to SUCCEEDED with -1, one attempt, one worker, ordered timestamps', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'math.copysign', args: [1, -1] });
    const runner = env.app.runner();
    const finished: string[] = [];
    runner.on('finished', (t, outcome) => finished.push(`${t.id}:${outcome}`));
    await runner.start();
    const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    expect(done).toMatchObject({ returnValue: -1, attempts: 1, workerIds: [runner.workerId], errors: [], progress: null });
    const { enqueuedAt, startedAt, finishedAt, lastAttemptedAt } = done;
    expect(startedAt).toBeInstanceOf(Date);
    expect(finishedAt).toBeInstanceOf(Date);
    expect(enqueuedAt.getTime()).toBeLessThanOrEqual(startedAt?.getTime() ?? -1);
    expect(startedAt?.getTime()).toBeLessThanOrEqual(finishedAt?.getTime() ?? -1);
    // The first attempt's time: the claim writes both from two clock_timestamp() reads, which Date's ms
    // can put 1 ms (or, descheduled, a few) apart.
    expect(Math.abs((lastAttemptedAt?.getTime() ?? 0) - (startedAt?.getTime() ?? Number.NaN))).toBeLessThan(1000);
    await waitFor(() => finished.length === 1);
    expect(finished).toEqual([`${task.id}:succeeded`]);
  });

  it('retries demo.fail twice, then records FAILED with three errors in attempt order', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.fail', args: ['broken on purpose'], maxAttempts: 3, backoff: FAST });
    const runner = env.app.runner();
    await runner.start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done).toMatchObject({ attempts: 3, maxAttempts: 3, returnValue: null, workerIds: Array(3).fill(runner.workerId) });
    expect(done.errors.map((e) => e.attempt)).toEqual([1, 2, 3]);
    for (const e of done.errors) {
      expect(e).toMatchObject({ exceptionType: 'DemoFailure', message: 'broken on purpose', workerId: runner.workerId });
      expect(e.traceback).toContain('DemoFailure: broken on purpose');
      expect(e.at).toBeInstanceOf(Date);
    }
    expect((await eventsOf(env.recorder, env.app.sql, task.id)).map((e) => e.status)).toEqual([
      'PENDING',
      'RUNNING',
      'RETRYING',
      'RUNNING',
      'RETRYING',
      'RUNNING',
      'FAILED',
    ]);
  });

  it('fails an attempt that exceeds timeoutMs with a TimeoutError, and retries it while attempts are left', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.block', timeoutMs: 50, maxAttempts: 2, backoff: FAST });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(abortReasons.get(task.id)).toBe('timeout');
    expect(done.attempts).toBe(2);
    expect(done.errors.map((e) => [e.exceptionType, e.attempt])).toEqual([
      ['TimeoutError', 1],
      ['TimeoutError', 2],
    ]);
    expect((await eventsOf(env.recorder, env.app.sql, task.id)).map((e) => e.status)).toContain('RETRYING');
  });

  it('frees the slot of a handler that ignores its AbortSignal after abandonAfterMs', async () => {
    const stuck = await env.app.deps.queue.enqueue({ name: 'test.stubborn', timeoutMs: 30 });
    const runner = env.app.runner({ concurrency: 1, abandonAfterMs: 100 });
    await runner.start();
    const failed = await waitForStatus(env.app.deps, stuck.id, 'FAILED');
    expect(failed.errors[0]).toMatchObject({ exceptionType: 'TimeoutError', attempt: 1 });
    expect(failed.errors[0]?.message).toContain('did not stop within 100 ms');
    // The handler still hangs, yet the single slot runs the next task.
    const next = await env.app.deps.queue.enqueue({ name: 'demo.echo', args: ['next'] });
    await waitForStatus(env.app.deps, next.id, 'SUCCEEDED');
    await waitFor(() => runner.running === 0, { message: 'the slot to be free' });
    releaseStubborn();
  });

  it.each([
    ['bigint', 'ResultNotSerializable'],
    ['cycle', 'ResultNotSerializable'],
    ['nan', 'ResultNotSerializable'],
    ['nul', 'ResultNotSerializable'],
    ['surrogate', 'ResultNotSerializable'],
    ['nulKey', 'ResultNotSerializable'],
    ['surrogateKey', 'ResultNotSerializable'],
    ['toJsonThrows', 'ResultNotSerializable'],
    ['map', 'ResultNotSerializable'],
    ['bytes', 'ResultNotSerializable'],
    ['buffer', 'ResultNotSerializable'],
    ['error', 'ResultNotSerializable'],
    ['deep', 'ResultNotSerializable'],
    ['large', 'ResultTooLarge'],
  ])('records FAILED without retrying when the handler returns a %s value (%s)', async (kind, exceptionType) => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.return', args: [kind], maxAttempts: 3, backoff: FAST });
    // A short lease: an outcome the database refuses is retried for three leases, and the
    // runner's stop waits for that; with the default lease a failure here would take 90 s.
    const runner = env.app.runner({ maxResultBytes: 1000, leaseMs: 1000, heartbeatMs: 300 });
    await runner.start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done).toMatchObject({ attempts: 1, returnValue: null });
    expect(done.errors).toEqual([expect.objectContaining({ exceptionType, attempt: 1 })]);
    expect(done.errors[0]?.message).toMatch(/returnValue/);
    // The worker is unharmed: its slot is free and it keeps working.
    const next = await env.app.deps.queue.enqueue({ name: 'demo.echo' });
    await waitForStatus(env.app.deps, next.id, 'SUCCEEDED');
    await waitFor(() => runner.running === 0, { message: 'the slot to be free' });
  });

  it.each([
    ['map', 'returnValue.lookup is a Map'],
    ['bytes', 'returnValue.data is a Uint8Array'],
    ['buffer', 'returnValue.data is a Buffer'],
    ['error', 'returnValue.error is an Error'],
    ['deep', 'is nested deeper than 1000 levels'],
  ])('names the path and the kind of a %s result it refuses', async (kind, message) => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.return', args: [kind] });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done.errors[0]?.message).toContain(message);
  });

  it('passes toJSON its key, as JSON.stringify does, and stores what that one call returned', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.return', args: ['keyedToJson'] });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, ['SUCCEEDED', 'FAILED']);
    expect(done).toMatchObject({ status: 'SUCCEEDED', returnValue: { d: 'ok' } });
  });

  it('refuses a Map in the arguments at enqueue, naming the field', async () => {
    const enqueued = env.app.deps.queue.enqueue({ name: 'demo.echo', args: [{ m: new Map() }] });
    await expect(enqueued).rejects.toMatchObject({ code: 'INVALID_ARGUMENTS', field: 'args[0].m', message: expect.stringContaining('args[0].m is a Map') });
  });

  it.each([
    ['string', 'NonError(string)', 'plain string thrown'],
    ['undefined', 'NonError(undefined)', 'undefined'],
    ['cycle', 'NonError(object)', '[Circular *1]'],
    ['nulMessage', 'Error', 'bad \ufffd byte'],
    ['subclass', 'SubclassedError', 'its name is inherited'],
    ['nulType', 'Bad\ufffdType', 'typed'],
  ])('records a readable error when the handler throws %s', async (kind, exceptionType, message) => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.throw', args: [kind] });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done.errors).toHaveLength(1);
    expect(done.errors[0]?.exceptionType).toBe(exceptionType);
    expect(done.errors[0]?.message).toContain(message);
  });

  it('records the causes of a thrown error in its traceback, with their types and stacks', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.throw', args: ['withCause'] });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done.errors[0]).toMatchObject({ exceptionType: 'Error', message: 'outer' });
    const traceback = done.errors[0]?.traceback ?? '';
    expect(traceback).toMatch(/^Error: outer\n\s+at /);
    expect(traceback).toMatch(/\nCaused by: TypeError: middle\n\s+at /);
    expect(traceback).toMatch(/\nCaused by: \[SubclassedError\] Error: inner\n\s+at /);
    expect(traceback).toMatch(/\nCaused by: NonError\(string\): root reason$/);
  });

  it("records an AggregateError's errors in its traceback", async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.throw', args: ['aggregate'] });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done.errors[0]).toMatchObject({ exceptionType: 'AggregateError', message: 'all failed' });
    const traceback = done.errors[0]?.traceback ?? '';
    expect(traceback).toMatch(/\nAggregated \[0\]: TypeError: one\n\s+at /);
    expect(traceback).toMatch(/\nAggregated \[1\]: NonError\(string\): two$/);
  });

  it('stores a progress update still being written when the handler returns, before SUCCEEDED', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.last-progress' });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    expect(done).toMatchObject({ returnValue: 'ret', progress: { current: 2, total: 2, message: 'last' } });
    const rows = await env.app.sql<{ type: string }[]>`SELECT type FROM task_events WHERE task_id = ${task.id} ORDER BY version`;
    const types = rows.map((r) => r.type);
    expect(types.at(-1)).toBe('SUCCEEDED');
    expect(types.filter((t) => t === 'PROGRESS').length).toBeGreaterThanOrEqual(1);
    expect(types.lastIndexOf('PROGRESS')).toBe(types.length - 2);
  });

  it('emits claimed before a task starts, so the logged duration includes the handler\'s synchronous part', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as Record<string, unknown>);
        done();
      },
    });
    const runner = env.app.runner();
    logTaskLifecycle(runner, pino({ level: 'info' }, sink));
    const task = await env.app.deps.queue.enqueue({ name: 'test.spin', args: [300] });
    await runner.start();
    await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    const line = await waitFor(() => lines.find((l) => l.taskId === task.id && l.msg === 'task succeeded'), { message: 'the succeeded line' });
    expect(line.durationMs).toBeGreaterThanOrEqual(300);
  });

  it('stores progress as visible changes, each with its own version and event', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.progress', args: [3, 20] });
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    expect(done.progress).toMatchObject({ current: 3, total: 3, message: 'step 3 of 3' });
    const events = await eventsOf(env.recorder, env.app.sql, task.id);
    expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toEqual({ version: done.version, status: 'SUCCEEDED' });
    expect(events.filter((e) => e.status === 'RUNNING').length).toBeGreaterThanOrEqual(2); // claim + progress
  });

  it('hands a task it has no handler for back, no attempt used, for a worker that has one', async () => {
    // A rolling deploy: the server knows demo.echo, this (old) worker does not yet.
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', args: ['later'] });
    const old = env.app.runner({ registry: createRegistry([copysign]) });
    await old.start();
    await waitFor(async () => (await eventsOf(env.recorder, env.app.sql, task.id)).some((e) => e.status === 'PENDING' && e.version > 1), {
      message: 'the task handed back',
    });
    await old.stop();
    expect(await env.app.deps.queue.getTask(task.id)).toMatchObject({ status: 'PENDING', attempts: 0, errors: [] });
    // Due again at once rather than in UNKNOWN_TASK_SNOOZE_MS, for a short test.
    await env.app.sql`UPDATE tasks SET run_after = now() WHERE id = ${task.id}`;
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    expect(done).toMatchObject({ attempts: 1, errors: [], returnValue: { args: ['later'] } });
  });

  it('fails a task it has no handler for with UnknownTask, without retrying, once it is UNKNOWN_TASK_GRACE_MS old', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', maxAttempts: 3 });
    await env.app.sql`UPDATE tasks SET enqueued_at = now() - ${UNKNOWN_TASK_GRACE_MS + 1000} * interval '1 millisecond' WHERE id = ${task.id}`;
    await env.app.runner({ registry: createRegistry([copysign]) }).start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done.errors).toEqual([expect.objectContaining({ exceptionType: 'UnknownTask', attempt: 1 })]);
  });

  it('stamps a failed attempt\'s error by the database\'s clock, as its event is, not by a worker clock five minutes ahead', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.fail', args: ['skewed'], maxAttempts: 1 });
    // Only Date is faked: the worker's host five minutes ahead of the database.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() + 300_000 });
    try {
      await env.app.runner().start();
      const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
      const at = Date.parse(String((done.errors[0] as { at: unknown }).at));
      expect(Math.abs(at - done.finishedAt!.getTime())).toBeLessThan(2000);
    } finally {
      vi.useRealTimers();
    }
  });

  it('ends a task FAILED at once when its handler throws NonRetryableError or an error with retryable false', async () => {
    const [byClass, byFlag] = await env.app.deps.queue.enqueueMany([
      { name: 'test.non-retryable', args: ['class'], maxAttempts: 3 },
      { name: 'test.non-retryable', args: ['flag'], maxAttempts: 3 },
    ]);
    await env.app.runner().start();
    const [a, b] = [await waitForStatus(env.app.deps, byClass!.id, 'FAILED'), await waitForStatus(env.app.deps, byFlag!.id, 'FAILED')];
    expect(a.errors).toEqual([expect.objectContaining({ exceptionType: 'NonRetryableError', message: 'the record is gone', attempt: 1 })]);
    expect(b.errors).toEqual([expect.objectContaining({ exceptionType: 'TypeError', message: 'bad shape', attempt: 1 })]);
    expect([a.attempts, b.attempts]).toEqual([1, 1]);
  });

  it('fails a task whose stored arguments no longer fit the schema with InvalidArguments', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'math.copysign', args: [1, 2], maxAttempts: 3 });
    await env.app.sql`UPDATE tasks SET args = '["one", 2]'::jsonb WHERE id = ${task.id}`;
    await env.app.runner().start();
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED');
    expect(done.errors).toEqual([expect.objectContaining({ exceptionType: 'InvalidArguments', attempt: 1 })]);
  });
});
