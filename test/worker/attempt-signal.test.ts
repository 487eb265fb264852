import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AttemptController } from '../../src/worker/attempt-controller.js';
import { defineTask } from '../../src/worker/define-task.js';
import { createQueueTestApp, waitForStatus, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// ctx.signal is made only when a handler reads it (src/worker/attempt-controller.ts: an
// AbortSignal per attempt was a measurable share of a no-op drain). What must not change: a
// signal read after the abort is already aborted with the abort's reason, and a handler that
// never reads it is still abandoned after abandonAfterMs.

/** Per task: resolves the handler's wait, so that it reads ctx.signal only then. */
const gates = new Map<string, () => void>();
/** Per task: what the handler saw when it read ctx.signal late. */
const seen = new Map<string, { aborted: boolean; reason: unknown }>();

const tasks = [
  // Waits for the test, then reads its signal for the first time and reports what it holds.
  defineTask({
    name: 'test.late-signal',
    run: async (_args, ctx) => {
      await new Promise<void>((resolve) => gates.set(ctx.taskId, resolve));
      seen.set(ctx.taskId, { aborted: ctx.signal.aborted, reason: ctx.signal.reason });
      ctx.signal.throwIfAborted();
      return 'not aborted';
    },
  }),
  // Waits on a server that never answers, as a handler of the README does: fetch rejects with the
  // signal's reason as it is (the string 'cancel').
  defineTask({
    name: 'test.fetch',
    run: async (_args, ctx) => {
      gates.set(ctx.taskId, () => undefined);
      await fetch(silentUrl, { signal: ctx.signal });
      return 'answered';
    },
  }),
  // Rejects with its signal's reason, as signal.throwIfAborted() does.
  defineTask({
    name: 'test.rejects-with-reason',
    run: (_args, ctx) =>
      new Promise<string>((_resolve, reject) => {
        gates.set(ctx.taskId, () => undefined);
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      }),
  }),
  // Wraps the abort in an error of its own, caused by the reason (as Node's timers/promises does).
  defineTask({
    name: 'test.wraps-reason',
    run: (_args, ctx) =>
      new Promise<string>((_resolve, reject) => {
        gates.set(ctx.taskId, () => undefined);
        ctx.signal.addEventListener('abort', () => reject(new Error('download stopped', { cause: ctx.signal.reason })), { once: true });
      }),
  }),
  // Never reads its signal and never settles until the test lets it.
  defineTask({
    name: 'test.deaf',
    run: (_args, ctx) => new Promise<string>((resolve) => gates.set(ctx.taskId, () => resolve('late'))),
  }),
];

/** Accepts requests and never answers them: a download that is still going when the task is cancelled. */
const silent = createServer(() => undefined);
let silentUrl = '';

let app: QueueTestApp;
beforeAll(async () => {
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
  app = await createQueueTestApp({}, tasks);
});
afterAll(async () => {
  await app?.close();
  silent.closeAllConnections();
  await new Promise((resolve) => silent.close(resolve));
});
afterEach(async () => {
  for (const open of gates.values()) open();
  gates.clear();
  await app.stopRunners();
});

describe('ctx.signal, made on first read', () => {
  it('is already aborted, with the reason "cancel", when first read after a cancellation', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.late-signal' });
    await app.runner({ concurrency: 1, abandonAfterMs: 50 }).start();
    await waitFor(() => gates.has(task.id), { message: 'the handler to start' });
    await app.deps.queue.cancelTask(task.id);
    // CANCELLED is recorded abandonAfterMs after the abort reached the attempt (the handler does
    // not settle): only then does the handler read its signal for the first time.
    await waitForStatus(app.deps, task.id, 'CANCELLED');
    expect(seen.has(task.id)).toBe(false);
    gates.get(task.id)?.();
    await waitFor(() => seen.has(task.id), { message: 'the handler to read its signal' });
    expect(seen.get(task.id)).toEqual({ aborted: true, reason: 'cancel' });
  });

  it.each(['test.fetch', 'test.rejects-with-reason', 'test.wraps-reason'])(
    'records no error for a cancelled handler that rejects with its abort (%s)',
    async (name) => {
      const task = await app.deps.queue.enqueue({ name });
      // abandonAfterMs far beyond the wait: CANCELLED comes from the handler's rejection, not from abandoning it.
      await app.runner({ concurrency: 1, abandonAfterMs: 30_000 }).start();
      await waitFor(() => gates.has(task.id), { message: 'the handler to start' });
      await app.deps.queue.cancelTask(task.id);
      await waitForStatus(app.deps, task.id, 'CANCELLED');
      expect((await app.deps.queue.getTask(task.id))?.errors).toEqual([]);
    },
  );

  it('hands a task back at a shutdown with no error recorded, its handler rejecting with the abort', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.fetch' });
    const runner = app.runner({ concurrency: 1, shutdownGraceMs: 50, abandonAfterMs: 30_000 });
    await runner.start();
    await waitFor(() => gates.has(task.id), { message: 'the handler to start' });
    await runner.stop();
    expect(await app.deps.queue.getTask(task.id)).toMatchObject({ status: 'PENDING', attempts: 0, errors: [] });
    await app.deps.queue.cancelTask(task.id); // out of the next test's runner's way
  });

  it('abandons a handler that never reads its signal, abandonAfterMs after a cancellation', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.deaf' });
    const runner = app.runner({ concurrency: 1, abandonAfterMs: 100 });
    await runner.start();
    await waitFor(() => gates.has(task.id), { message: 'the handler to start' });
    await app.deps.queue.cancelTask(task.id);
    await waitForStatus(app.deps, task.id, 'CANCELLED');
    await waitFor(() => runner.running === 0, { message: 'the slot to be free' });
  });
});

describe('AttemptController', () => {
  it('calls its abort callback once, with the first reason; a signal read later is aborted with it', () => {
    const controller = new AttemptController();
    const calls: string[] = [];
    controller.onAbort(() => calls.push(String(controller.reason)));
    controller.abort('timeout');
    controller.abort('cancel');
    expect(calls).toEqual(['timeout']);
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toBe('timeout');
  });

  it('aborts a signal read before the abort, and calls a callback set after it at once', () => {
    const controller = new AttemptController();
    const signal = controller.signal;
    expect(signal.aborted).toBe(false);
    controller.abort('shutdown');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe('shutdown');
    let called = false;
    controller.onAbort(() => {
      called = true;
    });
    expect(called).toBe(true);
  });
});
