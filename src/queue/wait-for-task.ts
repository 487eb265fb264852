import type { Sql } from '../db/client.js';
import { AppError, NotFoundError, TaskWaitTimeoutError } from '../errors.js';
import { decodeEvents, EVENTS_CHANNEL, listen, type Listener } from './events.js';
import { isTerminal } from './states.js';
import type { Task } from './task.js';

export interface WaitForTaskOptions {
  /** Gives up after this many ms with TaskWaitTimeoutError (default: waits as long as it takes). */
  timeoutMs?: number;
  /** Gives up when aborted, with its reason. */
  signal?: AbortSignal;
  /**
   * A read every this many ms besides the notifications (default 1,000): what a reconnect of the
   * listening connection may have missed is found by the next one.
   */
  pollMs?: number;
}

/**
 * The task once it has finished (SUCCEEDED, FAILED or CANCELLED), read with `read` (the queue's
 * scoped getTask): at once when it has, else when a notification on taskwire_events says it did
 * (LISTEN over the pool's listening connection, shared by every wait), or a poll finds it — for
 * a program or a test that enqueued work and needs its outcome without a GraphQL server (the
 * client's `wait` is the same over the API). A failed read (the database away) waits for the next.
 * @throws NotFoundError for an unknown id (another tenant's included, for a scoped queue);
 *   TaskWaitTimeoutError past `timeoutMs`; the signal's reason when it is aborted; the pool's
 *   CONNECTION_ENDED when it is closed under the wait
 */
/** A read that failed: the task is neither found nor missing. */
const UNREAD: unique symbol = Symbol('unread');

export function waitForTask(sql: Sql, id: string, read: () => Promise<Task | undefined>, options: WaitForTaskOptions = {}): Promise<Task> {
  const pollMs = options.pollMs ?? 1000;
  const { signal } = options;
  return new Promise<Task>((resolve, reject) => {
    let done = false;
    let last: Task | undefined;
    let listener: Listener | undefined;
    let reading = false;
    let readAgain = false;
    const poll = setInterval(() => void look(), pollMs);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => end(new TaskWaitTimeoutError(id, options.timeoutMs as number, last)), options.timeoutMs);
    const aborted = (): void => end(signal?.reason ?? new Error('aborted'));

    function end(error: unknown, task?: Task): void {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
      void listener?.close();
      if (task) resolve(task);
      else reject(error);
    }

    async function look(): Promise<void> {
      if (done) return;
      // One read at a time; a notification meanwhile reads once more after it.
      if (reading) {
        readAgain = true;
        return;
      }
      reading = true;
      try {
        do {
          readAgain = false;
          const task: Task | undefined | typeof UNREAD = await read().catch((error: unknown): typeof UNREAD => {
            // Not the database's absence: the id itself (malformed) or a bug, said at once; and a pool
            // closed under the wait (deps.close()), which no read will get past (it waited for ever).
            if (error instanceof AppError && error.code !== 'DATABASE_UNAVAILABLE') throw error;
            if ((error as { code?: unknown }).code === 'CONNECTION_ENDED') throw error;
            return UNREAD;
          });
          // The database away: the next poll or notification reads again (not "not found").
          if (task === UNREAD) return;
          if (task === undefined) return end(new NotFoundError('Task', id));
          last = task;
          if (isTerminal(task.status)) return end(undefined, task);
        } while (readAgain && !done);
      } catch (error) {
        end(error);
      } finally {
        reading = false;
      }
    }

    if (signal?.aborted) return aborted();
    signal?.addEventListener('abort', aborted, { once: true });
    // LISTEN first, then the first read: a change between the two is in the read or in a notification.
    listen(sql, EVENTS_CHANNEL, {
      onNotify: (payload) => {
        if (decodeEvents(payload).some((e) => e.id === id && isTerminal(e.status))) void look();
      },
      onListen: () => void look(),
    }).then(
      (l) => {
        if (done) void l.close();
        else listener = l;
      },
      // No LISTEN (the database away): the polls find it.
      () => void look(),
    );
  });
}
