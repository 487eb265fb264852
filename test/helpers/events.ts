import type { Sql } from '../../src/db/client.js';
import { decodeEvents, EVENTS_CHANNEL, JOBS_CHANNEL, listen, type TaskEvent } from '../../src/queue/events.js';

export interface EventRecorder {
  events: TaskEvent[];
  jobs: string[];
  /** Resolves once an event matches `predicate` (already recorded ones count). */
  waitFor(predicate: (e: TaskEvent) => boolean, timeoutMs?: number): Promise<TaskEvent>;
  close(): Promise<void>;
}

/** Records every notification on both channels: what subscribers and workers would hear. */
export async function recordEvents(sql: Sql): Promise<EventRecorder> {
  const events: TaskEvent[] = [];
  const jobs: string[] = [];
  const waiters: { predicate: (e: TaskEvent) => boolean; resolve: (e: TaskEvent) => void }[] = [];
  const eventsListener = await listen(sql, EVENTS_CHANNEL, {
    onNotify: (payload) => {
      for (const event of decodeEvents(payload)) {
        events.push(event);
        for (const w of [...waiters]) {
          if (w.predicate(event)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(event);
          }
        }
      }
    },
  });
  const jobsListener = await listen(sql, JOBS_CHANNEL, { onNotify: (payload) => jobs.push(payload) });
  return {
    events,
    jobs,
    waitFor(predicate, timeoutMs = 10_000) {
      const found = events.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve: (e: TaskEvent) => (clearTimeout(timer), resolve(e)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`Timed out after ${timeoutMs} ms waiting for a task event`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    async close() {
      await eventsListener.close();
      await jobsListener.close();
    },
  };
}
