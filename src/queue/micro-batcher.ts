import { withDeadline } from '../db/deadline.js';

/**
 * What one flush returns: one result per item, in the items' order. A result that is an
 * `Error` rejects only its own caller. A flush whose items need no result may return nothing.
 */
export type FlushResults<R> = [R] extends [void] ? readonly (R | Error)[] | void : readonly (R | Error)[];

export interface MicroBatcherOptions<I, R> {
  /**
   * Writes one batch, usually in one statement. Throwing (or rejecting) fails every caller of
   * the batch with that error.
   */
  flush(items: readonly I[]): Promise<FlushResults<R>>;
  /** Most items in one flush (default: no limit), counted by `countOf`; more wait for the next one. */
  maxBatch?: number;
  /**
   * How many of `maxBatch` an item counts for (default 1): an item that stands for several rows
   * (one caller's group of tasks) counts each of them. A group is never split: one larger than
   * `maxBatch` goes alone.
   */
  countOf?: (item: I) => number;
  /**
   * An item's size in the flush's statement (e.g. the length of its JSON text). With it, a flush
   * carries at most `maxBatchBytes` of items (an item larger than that goes alone): the statement
   * stays far from what one string, one parameter or one parse can hold.
   */
  sizeOf?: (item: I) => number;
  /** With `sizeOf`: most of it in one flush (default BATCH_BYTES). */
  maxBatchBytes?: number;
  /** Flushes in flight at once (default 1). With more than one, batches may complete out of order. */
  maxInFlight?: number;
  /**
   * Least time between the starts of two flushes, in ms (default 0: the next flush starts as
   * soon as a slot is free). Under a steady stream of items, each flush then carries what arrived
   * over this interval rather than over one round trip: fewer, larger statements, for at most this
   * much more latency. A batcher idle for longer still sends a lone item on the next microtask.
   */
  minIntervalMs?: number;
  /**
   * Longest wait for a flush's answer, in ms (default none): past it the batch's callers get a
   * WriteTimeoutError (src/db/deadline.ts) and the next flush may start, so that one statement stuck
   * on a connection that stopped answering does not hold every later item behind it.
   */
  flushTimeoutMs?: number;
}

export interface MicroBatcher<I, R> {
  /** Adds one item to the next flush; resolves with its own result, or rejects with its own (or its batch's) error. */
  add(item: I): Promise<R>;
  /** The next flush need not wait for `minIntervalMs`: what is queued goes as soon as a slot is free. */
  hurry(): void;
}

interface Entry<I, R> {
  item: I;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/**
 * What one batched write carries at most, by its items' `sizeOf` (16 MiB). Results, errors,
 * arguments and output are JSON text up to megabytes each, and a batch holds whatever arrived during
 * one round trip: hundreds of 1 MB results made one parameter of hundreds of MB, which PostgreSQL
 * took seconds to take in, and past V8's longest string (~512 MB) the flush could only throw
 * (`Invalid string length`), again on every retry. 16 MiB still holds thousands of ordinary items.
 */
export const BATCH_BYTES = 16 * 1024 * 1024;

/**
 * Micro-batching without a timer: while a flush is in flight, the items that arrive wait and
 * go together as the next flush. An idle batcher sends a lone item on the next microtask
 * (items added in the same tick share it), so its latency stays that of one write; a busy one
 * writes many items per statement, as many as arrived during one round trip. The batch size
 * adapts to the load by itself: nothing to tune, and no timer to keep a process alive (unless
 * `minIntervalMs` spaces flushes: then a busy batcher waits out at most that interval).
 *
 * Items are flushed in the order they were added; with `maxInFlight` 1 (the default) they are
 * also stored in that order, which is what a per-task sequence (output chunks) relies on.
 */
export function createMicroBatcher<I, R = void>(options: MicroBatcherOptions<I, R>): MicroBatcher<I, R> {
  const maxBatch = options.maxBatch ?? Number.POSITIVE_INFINITY;
  const { sizeOf, countOf } = options;
  const maxBatchBytes = options.maxBatchBytes ?? BATCH_BYTES;
  const maxInFlight = options.maxInFlight ?? 1;
  const minIntervalMs = options.minIntervalMs ?? 0;
  let queue: Entry<I, R>[] = [];
  let inFlight = 0;
  let scheduled = false;
  /** performance.now() when the last flush started (with minIntervalMs). */
  let lastStart = Number.NEGATIVE_INFINITY;
  /** The pending spaced pump, if it waits for a timer. */
  let timer: NodeJS.Timeout | undefined;

  function schedule(): void {
    // With every flush slot taken there is nothing to start now: the flush ending schedules again.
    if (scheduled || inFlight >= maxInFlight) return;
    scheduled = true;
    const wait = lastStart + minIntervalMs - performance.now();
    if (wait > 0) timer = setTimeout(pump, wait);
    else queueMicrotask(pump);
  }

  function pump(): void {
    scheduled = false;
    timer = undefined;
    while (inFlight < maxInFlight && queue.length > 0) {
      if (minIntervalMs > 0) {
        const now = performance.now();
        if (now < lastStart + minIntervalMs) return schedule();
        lastStart = now;
      }
      const count = batchLength();
      const batch = queue.length === count ? queue : queue.slice(0, count);
      queue = queue.length === count ? [] : queue.slice(count);
      inFlight += 1;
      void send(batch).finally(() => {
        inFlight -= 1;
        if (queue.length > 0) schedule();
      });
    }
  }

  /** How many of the queue's first items the next flush takes: maxBatch by countOf, and maxBatchBytes by sizeOf (at least one). */
  function batchLength(): number {
    const most = Math.min(queue.length, maxBatch);
    if (!sizeOf && !countOf) return most;
    let bytes = 0;
    let count = 0;
    for (let i = 0; i < most; i++) {
      const item = (queue[i] as Entry<I, R>).item;
      bytes += sizeOf ? sizeOf(item) : 0;
      count += countOf ? countOf(item) : 1;
      if (bytes > maxBatchBytes || count > maxBatch) return Math.max(1, i);
    }
    return most;
  }

  async function send(batch: readonly Entry<I, R>[]): Promise<void> {
    try {
      const results = (await withDeadline(options.flush(batch.map((e) => e.item)), options.flushTimeoutMs)) as readonly (R | Error)[] | undefined;
      batch.forEach((entry, i) => {
        const result = results?.[i];
        if (result instanceof Error) entry.reject(result);
        else entry.resolve(result as R);
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }

  return {
    add(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        schedule();
      });
    },
    hurry() {
      lastStart = Number.NEGATIVE_INFINITY;
      if (!timer) return;
      clearTimeout(timer);
      timer = undefined;
      scheduled = false;
      schedule();
    },
  };
}
