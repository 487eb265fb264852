import { describe, expect, it } from 'vitest';
import { BATCH_BYTES, createMicroBatcher } from '../../src/queue/micro-batcher.js';
import { waitFor } from '../helpers/wait.js';

/** A promise the test settles by hand. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A batcher whose flushes wait for the test: `batches` records what each flush got, `release(i)` ends flush i. */
function gatedBatcher(
  options: { maxBatch?: number; maxInFlight?: number; minIntervalMs?: number; sizeOf?: (n: number) => number; maxBatchBytes?: number; countOf?: (n: number) => number } = {},
) {
  const batches: number[][] = [];
  /** performance.now() at the start of each flush. */
  const starts: number[] = [];
  const gates: ReturnType<typeof deferred>[] = [];
  let inFlight = 0;
  let maxSeenInFlight = 0;
  const batcher = createMicroBatcher<number, string>({
    ...options,
    async flush(items) {
      batches.push([...items]);
      starts.push(performance.now());
      const gate = deferred();
      gates.push(gate);
      inFlight += 1;
      maxSeenInFlight = Math.max(maxSeenInFlight, inFlight);
      try {
        await gate.promise;
      } finally {
        inFlight -= 1;
      }
      return items.map((i) => `#${i}`);
    },
  });
  /** Lets the microtasks queued so far run (a flush starts on one). */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return { batcher, batches, starts, gates, settle, maxInFlight: () => maxSeenInFlight };
}

describe('createMicroBatcher', () => {
  it('flushes items added in the same tick together, each caller getting its own result', async () => {
    const { batcher, batches, gates, settle } = gatedBatcher();
    const results = [batcher.add(1), batcher.add(2), batcher.add(3)];
    await settle();
    expect(batches).toEqual([[1, 2, 3]]);
    gates[0]?.resolve();
    expect(await Promise.all(results)).toEqual(['#1', '#2', '#3']);
  });

  it('sends a lone item on its own, without waiting for company', async () => {
    const { batcher, batches, gates, settle } = gatedBatcher();
    const one = batcher.add(7);
    await settle();
    expect(batches).toEqual([[7]]);
    gates[0]?.resolve();
    expect(await one).toBe('#7');
  });

  it('keeps one flush in flight; what arrives meanwhile rides the next, in order', async () => {
    const { batcher, batches, gates, settle, maxInFlight } = gatedBatcher();
    const first = batcher.add(1);
    await settle();
    const later = [batcher.add(2), batcher.add(3)];
    await settle();
    later.push(batcher.add(4));
    await settle();
    expect(batches).toEqual([[1]]);
    gates[0]?.resolve();
    await first;
    await settle();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    gates[1]?.resolve();
    expect(await Promise.all(later)).toEqual(['#2', '#3', '#4']);
    expect(maxInFlight()).toBe(1);
  });

  it('splits at maxBatch and runs up to maxInFlight flushes at once', async () => {
    const { batcher, batches, gates, settle, maxInFlight } = gatedBatcher({ maxBatch: 2, maxInFlight: 2 });
    const all = [1, 2, 3, 4, 5].map((i) => batcher.add(i));
    await settle();
    expect(batches).toEqual([[1, 2], [3, 4]]);
    gates[0]?.resolve();
    await all[1];
    await settle();
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
    gates[1]?.resolve();
    gates[2]?.resolve();
    expect(await Promise.all(all)).toEqual(['#1', '#2', '#3', '#4', '#5']);
    expect(maxInFlight()).toBe(2);
  });

  it('with sizeOf, cuts a flush before maxBatchBytes; an item larger than that goes alone', async () => {
    const { batcher, batches, gates, settle } = gatedBatcher({ sizeOf: (n) => n, maxBatchBytes: 10, maxInFlight: 4 });
    const all = [4, 4, 4, 20, 3, 3, 10].map((n) => batcher.add(n));
    await settle();
    expect(batches).toEqual([[4, 4], [4], [20], [3, 3]]);
    for (const gate of gates) gate.resolve();
    await settle();
    await settle();
    expect(batches).toEqual([[4, 4], [4], [20], [3, 3], [10]]);
    gates[4]?.resolve();
    expect(await Promise.all(all)).toEqual(['#4', '#4', '#4', '#20', '#3', '#3', '#10']);
  });

  it('with sizeOf and no maxBatchBytes, holds BATCH_BYTES a flush', async () => {
    const { batcher, batches, gates, settle } = gatedBatcher({ sizeOf: (n) => n * 1024 * 1024, maxInFlight: 4 });
    const all = [6, 6, 4, 1, 17].map((n) => batcher.add(n));
    await settle();
    expect(BATCH_BYTES).toBe(16 * 1024 * 1024);
    expect(batches).toEqual([[6, 6, 4], [1], [17]]);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(all)).toEqual(['#6', '#6', '#4', '#1', '#17']);
  });

  it('with countOf, counts maxBatch by it; an item that counts for more than maxBatch goes alone', async () => {
    const { batcher, batches, gates, settle } = gatedBatcher({ countOf: (n) => n, maxBatch: 10, maxInFlight: 4 });
    const all = [3, 3, 3, 2, 12, 1, 10].map((n) => batcher.add(n));
    await settle();
    expect(batches).toEqual([[3, 3, 3], [2], [12], [1]]);
    for (const gate of gates) gate.resolve();
    await settle();
    await settle();
    expect(batches).toEqual([[3, 3, 3], [2], [12], [1], [10]]);
    gates[4]?.resolve();
    expect(await Promise.all(all)).toEqual(['#3', '#3', '#3', '#2', '#12', '#1', '#10']);
  });

  it('rejects only the caller whose result is an Error', async () => {
    const batcher = createMicroBatcher<number, number>({
      flush: async (items) => items.map((i) => (i < 0 ? new RangeError(`negative: ${i}`) : i * 2)),
    });
    const results = await Promise.allSettled([batcher.add(1), batcher.add(-1), batcher.add(3)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    expect((results[2] as PromiseFulfilledResult<number>).value).toBe(6);
  });

  it('fails every caller of a flush that throws, and goes on with the next batch', async () => {
    let calls = 0;
    const batcher = createMicroBatcher<string>({
      flush: async () => {
        calls += 1;
        if (calls === 1) throw new Error('database away');
      },
    });
    const failed = await Promise.allSettled([batcher.add('a'), batcher.add('b')]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(batcher.add('c')).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });

  it('with minIntervalMs, holds the next flush for the rest of the interval: what arrives meanwhile goes together', async () => {
    // 60 s: nothing in this test waits for it; hurry() lets the held flush go.
    const { batcher, batches, gates, settle } = gatedBatcher({ minIntervalMs: 60_000 });
    const first = batcher.add(1);
    await settle();
    expect(batches).toEqual([[1]]); // idle before: sent at once
    gates[0]?.resolve();
    await first;
    const later = [batcher.add(2)];
    await settle();
    later.push(batcher.add(3));
    await settle();
    expect(batches).toEqual([[1]]); // the slot is free, but the interval is not over
    batcher.hurry();
    await settle();
    expect(batches).toEqual([[1], [2, 3]]);
    gates[1]?.resolve();
    expect(await Promise.all(later)).toEqual(['#2', '#3']);
  });

  it('with minIntervalMs, starts the held flush by itself once the interval is over', async () => {
    const { batcher, batches, starts, gates } = gatedBatcher({ minIntervalMs: 40 });
    const first = batcher.add(1);
    await waitFor(() => gates.length === 1, { intervalMs: 1 });
    gates[0]?.resolve();
    await first;
    const second = batcher.add(2);
    await waitFor(() => gates.length === 2, { intervalMs: 1 });
    gates[1]?.resolve();
    expect(await second).toBe('#2');
    expect(batches).toEqual([[1], [2]]);
    expect((starts[1] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(39); // the flushes stamp a few µs after the batcher's own clock reads
  });

  it('with minIntervalMs, hurry() before a flush ends lets the next one start as soon as the slot is free', async () => {
    const { batcher, batches, gates, settle } = gatedBatcher({ minIntervalMs: 60_000 });
    const first = batcher.add(1);
    await settle();
    const second = batcher.add(2);
    batcher.hurry();
    gates[0]?.resolve();
    await first;
    await settle();
    expect(batches).toEqual([[1], [2]]);
    gates[1]?.resolve();
    expect(await second).toBe('#2');
  });
});

