import { PullStream } from './pull-stream.js';

/**
 * The stream of one event subscription (taskEvents, taskEventFeed). Unlike the task-state
 * stream (task-stream.ts) nothing is conflated: every event is delivered, in order. Memory stays
 * bounded because the log is durable: past `maxQueued` queued events the stream stops taking new
 * ones and is marked `lagging`; once the consumer has drained what is queued, `onDrained` asks
 * the owner to read the rest from the database, from where the queue stopped.
 */
export abstract class EventStream<T> extends PullStream<T> {
  private queue: T[] = [];
  private head = 0;
  /** Events were refused for lack of room: the owner must re-read from the last one queued. */
  protected lagging = false;

  constructor(private readonly maxQueued = 5000) {
    super();
  }

  /** The queue ran dry after the stream had been lagging: time to read what it refused. */
  protected abstract onDrained(): void;

  /** Queues an event; false (and lagging) when the queue is full. */
  protected push(event: T): boolean {
    return this.put(event);
  }

  protected enqueue(event: T): boolean {
    if (this.queue.length - this.head >= this.maxQueued) {
      this.lagging = true;
      return false;
    }
    this.queue.push(event);
    return true;
  }

  protected dequeue(): T | undefined {
    if (this.head >= this.queue.length) return undefined;
    const value = this.queue[this.head] as T;
    this.queue[this.head++] = undefined as T;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    return value;
  }

  protected clearQueue(): void {
    this.queue = [];
    this.head = 0;
  }

  protected override onEmpty(): void {
    if (!this.lagging) return;
    this.lagging = false;
    this.onDrained();
  }
}
