import { PendingStep, readyStep } from './ready-step.js';

/**
 * The push-to-pull bridge every subscription stream shares: the producer pushes values and
 * ends the stream, graphql-js pulls it as an async iterator (`return()`, i.e. unsubscribe, takes
 * effect at once). What waits between push and pull, and what a full queue does, is the
 * subclass's: task-stream.ts conflates task states, event-stream.ts keeps every event.
 * `onClose` runs once, when the consumer is done (ended and drained, or returned).
 *
 * A class with its state in fields, not closures: a server holds one per subscription (tens of
 * thousands).
 */
export abstract class PullStream<T> implements AsyncIterableIterator<T> {
  /** The consumer waiting for a value: a promise's resolver, or (syncWake) the step it was given. */
  private waiting: ((result: IteratorResult<T>) => void) | PendingStep<IteratorResult<T>> | undefined;
  private ended = false;
  private closed = false;

  /** Still taking values: not ended, not returned. */
  protected get open(): boolean {
    return !this.ended && !this.closed;
  }

  /** Runs once, when the consumer is done with the stream. */
  protected abstract onClose(): void;
  /** Keeps a value for a consumer that is not waiting; false when it was refused. */
  protected abstract enqueue(value: T): boolean;
  /** The next value kept, if any. */
  protected abstract dequeue(): T | undefined;
  protected abstract clearQueue(): void;
  /** The consumer found nothing queued and will wait. */
  protected onEmpty(): void {}
  /**
   * A waiting consumer gets a PendingStep (ready-step.ts) rather than a promise: a value put then
   * runs the consumer's chain of wrappers at once, in the producer's call. Off by default; a
   * subclass whose producer can take that (task-stream.ts) turns it on.
   */
  protected get syncWake(): boolean {
    return false;
  }

  /** Hands a value to the waiting consumer, or keeps it; false when the stream refused it. */
  protected put(value: T): boolean {
    if (!this.open) return false;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      wake(waiting, { value, done: false });
      return true;
    }
    return this.enqueue(value);
  }

  /** No more values: the consumer gets what is queued, then the end. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      wake(waiting, this.close());
    }
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.dequeue();
    // Queued while the consumer was busy: handed on synchronously through the wrappers (ready-step.ts).
    if (value !== undefined) return readyStep({ value, done: false });
    if (this.ended || this.closed) return Promise.resolve(this.close());
    this.onEmpty();
    if (this.syncWake) {
      const step = new PendingStep<IteratorResult<T>>();
      this.waiting = step;
      return step as unknown as Promise<IteratorResult<T>>;
    }
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /**
   * A value already queued, taken without an iterator step (the graphql-ws pump's fast lane,
   * shared-results.ts); undefined when none is. The same value next() would give, in the same order.
   */
  takeQueued(): T | undefined {
    return this.dequeue();
  }

  return(): Promise<IteratorResult<T>> {
    this.ended = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    const done = this.close();
    // The consumer's side: one job later, as with a promise, even for a PendingStep. Its caller
    // (a wrapper ending the stream) may still hold that next() as pending and settle it after
    // this returns: woken synchronously, the chain would settle it first with `done`.
    if (typeof waiting === 'function') waiting(done);
    else if (waiting) queueMicrotask(() => waiting.resolve(done));
    return Promise.resolve(done);
  }

  throw(): Promise<IteratorResult<T>> {
    return this.return();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private close(): IteratorResult<T> {
    if (!this.closed) {
      this.closed = true;
      this.clearQueue();
      this.onClose();
    }
    return { value: undefined, done: true };
  }
}

function wake<T>(waiting: ((result: IteratorResult<T>) => void) | PendingStep<IteratorResult<T>>, result: IteratorResult<T>): void {
  if (typeof waiting === 'function') waiting(result);
  else waiting.resolve(result);
}
