import { isTerminal } from '../../queue/states.js';
import type { Task } from '../../queue/task.js';
import { PullStream } from './pull-stream.js';

/** How many times `maxQueued` ended tasks a stream keeps before it drops terminal states too. */
export const TERMINAL_HEADROOM = 10;

/**
 * The stream of one task-state subscription (taskStatusChanged). Bounded by conflation: while
 * the consumer is behind, a task's newer state replaces its older queued one in place, so the
 * queue holds at most one state per task and a slow client gets the latest state rather than a
 * backlog. The common case (one task per stream) queues in a field, not a Map.
 *
 * A filter subscription can fall behind on many tasks at once (a burst of 20,000 tasks finishing
 * in seconds). Past `maxQueued` distinct tasks it drops the oldest queued state that is not
 * terminal: that task's newer state (its end, at least) will come, so a client still sees every
 * task it watches end, which is what a UI waits for. Only past `maxQueued` × TERMINAL_HEADROOM
 * queued tasks (all of them ended, none yet read by the client) does it drop the oldest
 * terminal state too: a consumer that far behind is not reading, and memory must stay bounded.
 */
export abstract class TaskStream extends PullStream<Task> {
  /** The only queued state, while every queued state is of one task. */
  private single: Task | undefined;
  /** Queued states once more than one task is queued; insertion order = delivery order. */
  private queued: Map<string, Task> | undefined;
  /** Ids in `queued` whose state is not terminal, oldest first: the ones to drop first. */
  private unfinished: Set<string> | undefined;

  constructor(private readonly maxQueued = 10_000) {
    super();
  }

  /** The hub hands out states in slices of its own (publisher.ts): a waiting subscriber's chain runs in it. */
  protected override get syncWake(): boolean {
    return true;
  }

  /** Queues a task state for the consumer (a newer state of a task still queued replaces it). */
  push(task: Task): void {
    this.put(task);
  }

  protected enqueue(task: Task): boolean {
    if (this.queued) {
      this.queue(task);
    } else if (!this.single || this.single.id === task.id) {
      this.single = task;
    } else {
      const first = this.single;
      this.single = undefined;
      this.queued = new Map();
      this.unfinished = new Set();
      this.queue(first);
      this.queue(task);
    }
    return true;
  }

  private queue(task: Task): void {
    const queued = this.queued as Map<string, Task>;
    const unfinished = this.unfinished as Set<string>;
    queued.set(task.id, task);
    // A task's position is its first queued state's (Map order); its droppability follows its latest.
    if (isTerminal(task.status)) unfinished.delete(task.id);
    else unfinished.add(task.id);
    if (queued.size <= this.maxQueued) return;
    const victim = unfinished.size > 0 ? (unfinished.values().next().value as string) : undefined;
    if (victim !== undefined) {
      unfinished.delete(victim);
      queued.delete(victim);
    } else if (queued.size > this.maxQueued * TERMINAL_HEADROOM) {
      queued.delete(queued.keys().next().value as string);
    }
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
    this.unfinished?.delete(first.value[0]);
    return first.value[1];
  }

  protected clearQueue(): void {
    this.single = undefined;
    this.queued = undefined;
    this.unfinished = undefined;
  }
}
