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
  // Never reads its signal and never settles until the test lets it.
  defineTask({
    name: 'test.deaf',
    run: (_args, ctx) => new Promise<string>((resolve) => gates.set(ctx.taskId, () => resolve('late'))),
  }),
];

let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp({}, tasks);
});
afterAll(async () => {
  await app?.close();
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
