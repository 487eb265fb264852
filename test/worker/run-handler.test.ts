import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { defineTask, NonRetryableError, OutputChunkTooLargeError, runHandler } from '../../src/index.js';

// runHandler: a handler run once as a worker runs it, without a database, for users' unit tests.
const report = defineTask({
  name: 'test.report',
  args: z.tuple([z.number().int().positive()]),
  kwargs: z.object({ format: z.enum(['pdf', 'csv']).default('pdf') }),
  timeoutMs: 5000,
  run: async ([pages], ctx) => {
    for (let page = 1; page <= pages; page++) {
      await ctx.progress({ current: page, total: pages });
      await ctx.output({ page });
    }
    return { pages, format: ctx.kwargs.format, attempt: ctx.attempt, at: new Date('2026-01-01T00:00:00Z') };
  },
});

const flaky = defineTask({
  name: 'test.flaky',
  args: z.tuple([z.enum(['retry', 'stop', 'snooze', 'big-output', 'hang'])]),
  run: async ([how], ctx) => {
    if (how === 'retry') throw new Error('upstream down');
    if (how === 'stop') throw new NonRetryableError('bad input');
    if (how === 'snooze') ctx.snooze(30_000);
    if (how === 'big-output') {
      try {
        await ctx.output('x'.repeat(70_000));
      } catch (error) {
        return error instanceof OutputChunkTooLargeError ? 'refused' : 'other';
      }
    }
    if (how === 'hang') await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    return 'done';
  },
});

describe('runHandler', () => {
  it('runs a handler with its schemas\' defaults, its ctx, and the result as it would be stored', async () => {
    const run = await runHandler(report, [3], { attempt: 2 });
    expect(run).toEqual({
      outcome: 'succeeded',
      result: { pages: 3, format: 'pdf', attempt: 2, at: '2026-01-01T00:00:00.000Z' },
      progress: [{ current: 1, total: 3 }, { current: 2, total: 3 }, { current: 3, total: 3 }],
      output: [{ page: 1 }, { page: 2 }, { page: 3 }],
    });
    const csv = await runHandler(report, [1], { kwargs: { format: 'csv' } });
    expect(csv.outcome === 'succeeded' && csv.result.format).toBe('csv');
    // Typed from the definition, as stored: the handler's Date is a string once read back.
    if (csv.outcome === 'succeeded') expectTypeOf(csv.result).toEqualTypeOf<{ pages: number; format: 'pdf' | 'csv'; attempt: number; at: string }>();
  });

  it('says how a failure would be recorded: retried or not, invalid arguments, a snooze, an output chunk refused at the call', async () => {
    expect(await runHandler(flaky, ['retry'], { maxAttempts: 2 })).toMatchObject({ outcome: 'failed', retryable: true, error: { exceptionType: 'Error', message: 'upstream down' } });
    expect(await runHandler(flaky, ['stop'])).toMatchObject({ outcome: 'failed', retryable: false, error: { message: 'bad input' } });
    expect(await runHandler(flaky, ['snooze'])).toMatchObject({ outcome: 'snoozed', snoozedMs: 30_000 });
    expect(await runHandler(flaky, ['big-output'])).toMatchObject({ outcome: 'succeeded', result: 'refused', output: [] });
    // What enqueue would have refused, as the worker's parse refuses it.
    expect(await runHandler(report, [-1] as unknown as [number])).toMatchObject({ outcome: 'failed', retryable: false, error: { exceptionType: 'InvalidArguments' } });
  });

  it('says a failure is retried only with attempts left, as a worker decides', async () => {
    expect(await runHandler(flaky, ['retry'], { attempt: 1, maxAttempts: 3 })).toMatchObject({ outcome: 'failed', retryable: true });
    expect(await runHandler(flaky, ['retry'], { attempt: 3, maxAttempts: 3 })).toMatchObject({ outcome: 'failed', retryable: false });
    // The definition's maxAttempts (1 here: none left) unless the options say otherwise.
    expect(await runHandler(flaky, ['hang'], { timeoutMs: 20 })).toMatchObject({ outcome: 'failed', retryable: false, error: { exceptionType: 'TimeoutError' } });
  });

  it('throws at ctx.output\'s call for a chunk that is not JSON, as the worker\'s does', async () => {
    const bigint = defineTask({
      name: 'test.bigint-output',
      run: async (_args, ctx) => {
        try {
          void ctx.output({ n: 10n });
        } catch (error) {
          return (error as Error).name;
        }
        return 'not thrown';
      },
    });
    expect(await runHandler(bigint, [])).toMatchObject({ outcome: 'succeeded', result: 'JsonEncodeError', output: [] });
  });

  it('times out and cancels as a worker does: the signal aborts, the attempt fails TimeoutError or is cancelled', async () => {
    expect(await runHandler(flaky, ['hang'], { timeoutMs: 50, maxAttempts: 2 })).toMatchObject({ outcome: 'failed', retryable: true, error: { exceptionType: 'TimeoutError' } });
    const controller = new AbortController();
    const running = runHandler(flaky, ['hang'], { signal: controller.signal });
    controller.abort();
    expect(await running).toMatchObject({ outcome: 'cancelled' });
  });
});
