import type { Logger } from '../logger.js';
import type { Queue, Task, TaskFilter } from '../queue/index.js';

/**
 * Live task changes, as the subscription resolvers need them. The server implements it
 * (src/server/pubsub.ts) over one LISTEN connection per process.
 */
export interface TaskEvents {
  /**
   * The task's current state, then each newer version until a terminal one (then it ends).
   * @throws BadUserInputError for a malformed id, NotFoundError for an unknown one.
   */
  watchTask(id: string): Promise<AsyncIterableIterator<Task>>;
  /** Every change of a task matching `filter` (each task's versions in order, none twice). */
  watchTasks(filter: TaskFilter): AsyncIterableIterator<Task>;
}

/** What every resolver gets: the core's queue API and the process's task-event hub. */
export interface GraphQLContext {
  queue: Queue;
  events: TaskEvents;
  log: Logger;
}
