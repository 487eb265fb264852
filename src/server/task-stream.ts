import type { Task } from '../queue/task.js';

/** The producer's side of one subscription's stream. */
export interface TaskStream {
  /** Queues a task state for the consumer (a newer state of a task still queued replaces it). */
  push(task: Task): void;
  /** No more states: the consumer gets what is queued, then the end. */
  end(): void;
  /** The consumer's side, for graphql-js; `return()` (unsubscribe) takes effect at once. */
  readonly iterator: AsyncIterableIterator<Task>;
}

/**
 * A push-to-pull bridge for one subscription. Bounded by conflation: while the consumer
 * is behind, a task's newer state replaces its older queued one in place, so the queue holds
 * at most one state per task and a slow client gets the latest state rather than a backlog.
 * `maxQueued` caps distinct tasks queued (filter subscriptions); beyond it the oldest is dropped.
 * `onClose` runs once, when the consumer is done (ended and drained, or returned).
 */
export function createTaskStream(onClose: () => void, maxQueued = 10_000): TaskStream {
  const queued = new Map<string, Task>(); // insertion order = delivery order
  let waiting: ((result: IteratorResult<Task>) => void) | undefined;
  let ended = false;
  let closed = false;

  const close = (): IteratorResult<Task> => {
    if (!closed) {
      closed = true;
      queued.clear();
      onClose();
    }
    return { value: undefined, done: true };
  };

  const iterator: AsyncIterableIterator<Task> = {
    next() {
      const first = queued.entries().next();
      if (!first.done) {
        queued.delete(first.value[0]);
        return Promise.resolve({ value: first.value[1], done: false });
      }
      if (ended || closed) return Promise.resolve(close());
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return() {
      ended = true;
      const w = waiting;
      waiting = undefined;
      const done = close();
      w?.(done);
      return Promise.resolve(done);
    },
    throw() {
      return iterator.return?.() ?? Promise.resolve(close());
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };

  return {
    iterator,
    push(task) {
      if (ended || closed) return;
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w({ value: task, done: false });
        return;
      }
      queued.set(task.id, task);
      if (queued.size > maxQueued) queued.delete(queued.keys().next().value as string);
    },
    end() {
      if (ended) return;
      ended = true;
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w(close());
      }
    },
  };
}
