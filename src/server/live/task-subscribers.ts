import type { Task } from '../../queue/index.js';
import { isTerminal, type TaskStatus } from '../../queue/states.js';
import { matchesFilter, statusMayMatch, type TaskFilter } from '../../queue/task-filter.js';
import { TaskStream } from './task-stream.js';

/** One subscription, as the hub (hub.ts) sees it. */
export interface Subscriber {
  /** Hands over a state; false when the subscriber already had that version (or a newer one). */
  deliver(task: Task): boolean;
  /** Filter subscriptions: could a task in this status match? (decides whether to read it at all) */
  wantsStatus?(status: TaskStatus): boolean;
  matches?(task: Task): boolean;
  /** Ids whose state to re-read after a reconnect. */
  resyncIds(): Iterable<string>;
  /** No more states: the client gets what is queued, then the end. */
  end(): void;
  /** The client's side, for graphql-js. */
  readonly iterator: AsyncIterableIterator<Task>;
}

/** The hub's side of a subscription's end: told once per subscriber. */
export interface SubscriberOwner {
  taskSubscriberDone(subscriber: TaskSubscriber): void;
  filterSubscriberDone(subscriber: FilterSubscriber): void;
}

/** The one filter rule lives in the core (src/queue/task-filter.ts); kept here for existing importers. */
export { matchesFilter } from '../../queue/task-filter.js';

/**
 * A subscription to one task. Until primed with its first state it only collects what the
 * hub delivers; afterwards it passes on each state newer than the last one sent, and ends
 * after a terminal one. The owner is told once: at the terminal state or when the client leaves.
 * Its own stream (no closures): a server holds one per subscriber.
 */
export class TaskSubscriber extends TaskStream implements Subscriber {
  private last = 0;
  private primed = false;
  private done = false;
  private early: Task[] | undefined;

  constructor(
    readonly id: string,
    private readonly owner: SubscriberOwner,
  ) {
    super();
  }

  get iterator(): AsyncIterableIterator<Task> {
    return this;
  }

  deliver(task: Task): boolean {
    if (!this.open) return false;
    if (this.primed) return this.send(task);
    (this.early ??= []).push(task);
    return false;
  }

  /** Sends the first state, then the changes that arrived meanwhile; returns how many were sent. */
  prime(first: Task): number {
    this.primed = true;
    let sent = this.send(first) ? 1 : 0;
    const early = this.early;
    this.early = undefined;
    if (early) for (const task of early.sort((a, b) => a.version - b.version)) if (this.send(task)) sent += 1;
    return sent;
  }

  resyncIds(): Iterable<string> {
    return [this.id];
  }

  /** Leaves the hub (once); the stream itself is ended separately. */
  detach(): void {
    if (this.done) return;
    this.done = true;
    this.owner.taskSubscriberDone(this);
  }

  protected onClose(): void {
    this.detach();
  }

  private send(task: Task): boolean {
    if (task.version <= this.last) return false;
    this.last = task.version;
    this.push(task);
    if (isTerminal(task.status)) {
      this.end();
      this.detach();
    }
    return true;
  }
}

/** Remembered versions per filter subscription; beyond this the oldest entries are forgotten. */
const MAX_SEEN = 10_000;

/**
 * A subscription to every change of tasks matching `filter`, each task's versions in order;
 * with `tenant`, only that tenant's tasks (a scoped hub), whatever the filter says.
 */
export class FilterSubscriber extends TaskStream implements Subscriber {
  private readonly seen = new Map<string, { version: number; terminal: boolean }>();

  constructor(
    private readonly filter: TaskFilter,
    private readonly owner: SubscriberOwner,
    private readonly tenant: string | null = null,
  ) {
    super();
  }

  get iterator(): AsyncIterableIterator<Task> {
    return this;
  }

  wantsStatus(status: TaskStatus): boolean {
    return statusMayMatch(this.filter, status);
  }

  matches(task: Task): boolean {
    // The tenant first: every change of every tenant is read once and offered to every filter
    // subscriber (the hub reads per change, not per subscriber); this is where others' are dropped.
    return (this.tenant === null || task.tenant === this.tenant) && matchesFilter(task, this.filter);
  }

  deliver(task: Task): boolean {
    if (!this.open) return false;
    const prev = this.seen.get(task.id);
    if (prev && task.version <= prev.version) return false;
    this.seen.delete(task.id);
    this.seen.set(task.id, { version: task.version, terminal: isTerminal(task.status) });
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value as string);
    this.push(task);
    return true;
  }

  resyncIds(): Iterable<string> {
    return [...this.seen].filter(([, s]) => !s.terminal).map(([id]) => id);
  }

  protected onClose(): void {
    this.owner.filterSubscriberDone(this);
  }
}
