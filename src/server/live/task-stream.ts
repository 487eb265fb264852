import type { Task } from '../../queue/task.js';

/**
 * A push-to-pull bridge for one subscription: the producer calls `push` and `end`, graphql-js
 * pulls it as an async iterator (`return()`, i.e. unsubscribe, takes effect at once).
 *
 * Bounded by conflation: while the consumer is behind, a task's newer state replaces its older
 * queued one in place, so the queue holds at most one state per task and a slow client gets the
 * latest state rather than a backlog. `maxQueued` caps distinct tasks queued (filter
 * subscriptions); beyond it the oldest is dropped. `onClose` runs once, when the consumer is
 * done (ended and drained, or returned).
 *
 * A class with its state in fields, not closures: a server holds one per subscription (tens of
 * thousands), and the common case (one task per stream) queues in a field, not a Map.
 */
export abstract class TaskStream implements AsyncIterableIterator<Task> {
  /** The only queued state, while every queued state is of one task. */
  private single: Task | undefined;
  /** Queued states once more than one task is queued; insertion order = delivery order. */
  private queued: Map<string, Task> | undefined;
  private waiting: ((result: IteratorResult<Task>) => void) | undefined;
  private ended = false;
  private closed = false;

  constructor(private readonly maxQueued = 10_000) {}

  /** Still taking states: not ended, not returned. */
  protected get open(): boolean {
    return !this.ended && !this.closed;
  }

  /** Runs once, when the consumer is done with the stream. */
  protected abstract onClose(): void;

  /** Queues a task state for the consumer (a newer state of a task still queued replaces it). */
  push(task: Task): void {
    if (this.ended || this.closed) return;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting({ value: task, done: false });
      return;
    }
    if (this.queued) {
      this.queued.set(task.id, task);
      if (this.queued.size > this.maxQueued) this.queued.delete(this.queued.keys().next().value as string);
    } else if (!this.single || this.single.id === task.id) {
      this.single = task;
    } else {
      this.queued = new Map([
        [this.single.id, this.single],
        [task.id, task],
      ]);
      this.single = undefined;
    }
  }

  /** No more states: the consumer gets what is queued, then the end. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting(this.close());
    }
  }

  next(): Promise<IteratorResult<Task>> {
    const task = this.shift();
    if (task) return Promise.resolve({ value: task, done: false });
    if (this.ended || this.closed) return Promise.resolve(this.close());
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<Task>> {
    this.ended = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    const done = this.close();
    waiting?.(done);
    return Promise.resolve(done);
  }

  throw(): Promise<IteratorResult<Task>> {
    return this.return();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Task> {
    return this;
  }

  private shift(): Task | undefined {
    const task = this.single;
    if (task) {
      this.single = undefined;
      return task;
    }
    if (!this.queued) return undefined;
    const first = this.queued.entries().next();
    if (first.done) return undefined;
    this.queued.delete(first.value[0]);
    return first.value[1];
  }

  private close(): IteratorResult<Task> {
    if (!this.closed) {
      this.closed = true;
      this.single = undefined;
      this.queued = undefined;
      this.onClose();
    }
    return { value: undefined, done: true };
  }
}
