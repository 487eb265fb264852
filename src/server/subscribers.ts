import type { Task, TaskFilter } from '../queue/index.js';
import { isTerminal, type TaskStatus } from '../queue/states.js';
import { createTaskStream } from './task-stream.js';

/** One subscription, as the hub (pubsub.ts) sees it. */
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

export interface TaskSubscriber extends Subscriber {
  /** Sends the first state, then the changes that arrived meanwhile; returns how many were sent. */
  prime(first: Task): number;
}

/** Does `task` satisfy every condition of `filter`? (the same conditions `tasks(filter:)` applies in SQL) */
export function matchesFilter(task: Task, filter: TaskFilter): boolean {
  if (filter.status && filter.status.length > 0 && !filter.status.includes(task.status)) return false;
  if (filter.name !== undefined && task.name !== filter.name) return false;
  if (filter.queue !== undefined && task.queue !== filter.queue) return false;
  if (filter.enqueuedAfter && !(task.enqueuedAt > filter.enqueuedAfter)) return false;
  if (filter.enqueuedBefore && !(task.enqueuedAt < filter.enqueuedBefore)) return false;
  return true;
}

/**
 * A subscription to one task. Until primed with its first state it only collects what the
 * hub delivers; afterwards it passes on each state newer than the last one sent, and ends
 * after a terminal one. `onDone` runs once: at the terminal state or when the client leaves.
 */
export function createTaskSubscriber(id: string, onDone: () => void): TaskSubscriber {
  let last = 0;
  let primed = false;
  let done = false;
  const early: Task[] = [];
  const finish = (): void => {
    if (done) return;
    done = true;
    onDone();
  };
  const stream = createTaskStream(finish);
  const send = (task: Task): boolean => {
    if (task.version <= last) return false;
    last = task.version;
    stream.push(task);
    if (isTerminal(task.status)) {
      stream.end();
      finish();
    }
    return true;
  };
  return {
    iterator: stream.iterator,
    deliver: (task) => (primed ? send(task) : (early.push(task), false)),
    prime(first) {
      primed = true;
      let sent = send(first) ? 1 : 0;
      for (const task of early.sort((a, b) => a.version - b.version)) if (send(task)) sent += 1;
      early.length = 0;
      return sent;
    },
    resyncIds: () => [id],
    end: () => stream.end(),
  };
}

/** Remembered versions per filter subscription; beyond this the oldest entries are forgotten. */
const MAX_SEEN = 10_000;

/** A subscription to every change of tasks matching `filter`, each task's versions in order. */
export function createFilterSubscriber(filter: TaskFilter, onDone: () => void): Subscriber {
  const seen = new Map<string, { version: number; terminal: boolean }>();
  const stream = createTaskStream(onDone);
  return {
    iterator: stream.iterator,
    wantsStatus: (status) => !filter.status || filter.status.length === 0 || filter.status.includes(status),
    matches: (task) => matchesFilter(task, filter),
    deliver(task) {
      const prev = seen.get(task.id);
      if (prev && task.version <= prev.version) return false;
      seen.delete(task.id);
      seen.set(task.id, { version: task.version, terminal: isTerminal(task.status) });
      if (seen.size > MAX_SEEN) seen.delete(seen.keys().next().value as string);
      stream.push(task);
      return true;
    },
    resyncIds: () => [...seen].filter(([, s]) => !s.terminal).map(([id]) => id),
    end: () => stream.end(),
  };
}
