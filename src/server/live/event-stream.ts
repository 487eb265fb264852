/**
 * A push-to-pull bridge for one event subscription (taskEvents, taskEventFeed). Unlike the
 * task-state stream (task-stream.ts) nothing is conflated: every event is delivered, in order.
 * Memory stays bounded because the log is durable: past `maxQueued` queued events the stream
 * stops taking new ones and is marked `lagging`; once the consumer has drained what is queued,
 * `onDrained` asks the owner to read the rest from the database, from where the queue stopped.
 */
export abstract class EventStream<T> implements AsyncIterableIterator<T> {
  private queue: T[] = [];
  private head = 0;
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private closed = false;
  /** Events were refused for lack of room: the owner must re-read from the last one queued. */
  protected lagging = false;

  constructor(private readonly maxQueued = 5000) {}

  protected get open(): boolean {
    return !this.ended && !this.closed;
  }

  /** Runs once, when the consumer is done with the stream. */
  protected abstract onClose(): void;
  /** The queue ran dry after the stream had been lagging: time to read what it refused. */
  protected abstract onDrained(): void;

  /** Queues an event; false (and lagging) when the queue is full. */
  protected push(event: T): boolean {
    if (!this.open) return false;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting({ value: event, done: false });
      return true;
    }
    if (this.queue.length - this.head >= this.maxQueued) {
      this.lagging = true;
      return false;
    }
    this.queue.push(event);
    return true;
  }

  /** No more events: the consumer gets what is queued, then the end. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting(this.close());
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head] as T;
      this.queue[this.head++] = undefined as T;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.ended || this.closed) return Promise.resolve(this.close());
    if (this.lagging) {
      this.lagging = false;
      this.onDrained();
    }
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.ended = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    const done = this.close();
    waiting?.(done);
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
      this.queue = [];
      this.head = 0;
      this.onClose();
    }
    return { value: undefined, done: true };
  }
}
