import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { defineTask } from './define-task.js';

/** math.copysign(x, y): x with the sign of y, as Python's. copysign(1, -1) = -1. */
export const copysign = defineTask({
  name: 'math.copysign',
  args: z.tuple([z.number(), z.number()]),
  run: ([x, y]) => {
    const negative = y < 0 || Object.is(y, -0);
    return negative ? -Math.abs(x) : Math.abs(x);
  },
});

/** demo.sleep(ms): waits, then returns how long it slept. Stops early when aborted. */
export const sleep = defineTask({
  name: 'demo.sleep',
  args: z.tuple([z.number().int().min(0).max(86_400_000)]),
  run: async ([ms], ctx) => {
    await delay(ms, undefined, { signal: ctx.signal });
    return { sleptMs: ms };
  },
});

export class DemoFailure extends Error {
  override name = 'DemoFailure';
}

/** demo.fail(message): always throws; enqueue with maxAttempts to watch it retry. */
export const fail = defineTask({
  name: 'demo.fail',
  args: z.tuple([z.string().max(10_000)]).or(z.tuple([])),
  backoff: { baseMs: 100, maxMs: 2000 },
  run: ([message], ctx) => {
    ctx.signal.throwIfAborted();
    throw new DemoFailure(message ?? 'demo.fail always fails');
  },
});

/** demo.progress(steps, delayMs): reports progress after each step. */
export const progress = defineTask({
  name: 'demo.progress',
  args: z.tuple([z.number().int().min(1).max(10_000), z.number().int().min(0).max(60_000)]),
  run: async ([steps, delayMs], ctx) => {
    for (let step = 1; step <= steps; step++) {
      await delay(delayMs, undefined, { signal: ctx.signal });
      await ctx.progress({ current: step, total: steps, message: `step ${step} of ${steps}` });
    }
    return { steps };
  },
});

/** demo.output(count, delayMs): writes `count` output chunks `{i, text}`, one every delayMs; returns the count. */
export const output = defineTask({
  name: 'demo.output',
  args: z.tuple([z.number().int().min(0).max(100_000), z.number().int().min(0).max(60_000)]),
  run: async ([count, delayMs], ctx) => {
    for (let i = 1; i <= count; i++) {
      if (delayMs > 0) await delay(delayMs, undefined, { signal: ctx.signal });
      else ctx.signal.throwIfAborted();
      // Not awaited: the writer keeps the order and batches the chunks; the runner stores them
      // all before the result.
      void ctx.output({ i, text: `chunk ${i} of ${count}` });
    }
    return { count };
  },
});

/** demo.echo(...args, **kwargs): returns what it was given. */
export const echo = defineTask({
  name: 'demo.echo',
  run: (args, ctx) => {
    ctx.signal.throwIfAborted();
    return { args, kwargs: ctx.kwargs };
  },
});

export const exampleTasks = [copysign, sleep, fail, progress, output, echo];
