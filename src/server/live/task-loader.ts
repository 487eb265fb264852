import type { Queue, Task } from '../../queue/index.js';

/**
 * Tasks by id for resolvers of event payloads (TaskEvent.task): the ids asked for within one
 * turn of the event loop are read in one query, so a page of a thousand feed events costs one
 * read, not a thousand. No cache: each turn reads the tasks as they are now.
 */
export function createTaskLoader(queue: Pick<Queue, 'getTasks'>): (id: string) => Promise<Task | undefined> {
  let batch: Map<string, { resolve(task: Task | undefined): void; reject(error: unknown): void }[]> | undefined;
  return (id) =>
    new Promise((resolve, reject) => {
      if (!batch) {
        const current = (batch = new Map());
        setImmediate(() => {
          batch = undefined;
          queue.getTasks([...current.keys()]).then(
            (tasks) => {
              const byId = new Map(tasks.map((t) => [t.id, t]));
              for (const [key, waiters] of current) for (const w of waiters) w.resolve(byId.get(key));
            },
            (error: unknown) => {
              for (const waiters of current.values()) for (const w of waiters) w.reject(error);
            },
          );
        });
      }
      const waiters = batch.get(id) ?? [];
      waiters.push({ resolve, reject });
      batch.set(id, waiters);
    });
}
