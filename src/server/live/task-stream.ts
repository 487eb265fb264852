import type { Task } from '../../queue/task.js';
import { PullStream } from './pull-stream.js';

/**
 * The stream of one task-state subscription (taskStatusChanged). Bounded by conflation: while
 * the consumer is behind, a task's newer state replaces its older queued one in place, so the
 * queue holds at most one state per task and a slow client gets the latest state rather than a
 * backlog. `maxQueued` caps distinct tasks queued (filter subscriptions); beyond it the oldest
 * is dropped. The common case (one task per stream) queues in a field, not a Map.
 */
export abstract class TaskStream extends PullStream<Task> {
  /** The only queued state, while every queued state is of one task. */
  private single: Task | undefined;
  /** Queued states once more than one task is queued; insertion order = delivery order. */
  private queued: Map<string, Task> | undefined;

  constructor(private readonly maxQueued = 10_000) {
    super();
  }

  /** Queues a task state for the consumer (a newer state of a task still queued replaces it). */
  push(task: Task): void {
    this.put(task);
  }

  protected enqueue(task: Task): boolean {
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
    return true;
  }

  protected dequeue(): Task | undefined {
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

  protected clearQueue(): void {
    this.single = undefined;
    this.queued = undefined;
  }
}
