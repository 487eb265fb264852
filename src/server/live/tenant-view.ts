import type { TaskEvents } from '../../graphql/context.js';
import type { FeedEvent, FeedPosition, Task, TaskEventRecord, TaskEventType, TaskFilter } from '../../queue/index.js';

/**
 * The hub's subscription entry points with the tenant they serve as a parameter (null: every
 * tenant). The hub (hub.ts) implements them over its one shared read per change; a view binds
 * the tenant, so resolvers keep calling the TaskEvents methods they always did.
 */
export interface TenantEntryPoints {
  watchTask(id: string, tenant: string | null): Promise<AsyncIterableIterator<Task>>;
  watchTasks(filter: TaskFilter, tenant: string | null): Promise<AsyncIterableIterator<Task>>;
  watchTaskEvents(id: string, afterVersion: number, types: readonly TaskEventType[], tenant: string | null): Promise<AsyncIterableIterator<TaskEventRecord>>;
  watchEventFeed(filter: TaskFilter, after: FeedPosition | null, tenant: string | null): Promise<AsyncIterableIterator<FeedEvent>>;
  /** Every tenant's tasks: the view drops the others'. */
  loadTask(id: string): Promise<Task | undefined>;
}

/** May a view limited to `tenant` (null: every tenant) see `task`? An absent task is seen by nobody. */
export function isVisible(task: Task | undefined, tenant: string | null): task is Task {
  return task !== undefined && (tenant === null || task.tenant === tenant);
}

/**
 * The hub as `tenant` sees it: another tenant's task is exactly an unknown one (the entry
 * points throw the same NotFoundError; loadTask answers undefined), and the streams without an
 * id carry only the tenant's tasks. Cheap to make (a few closures): one per operation is fine.
 */
export function tenantView(hub: TenantEntryPoints, tenant: string | null): TaskEvents {
  return {
    watchTask: (id) => hub.watchTask(id, tenant),
    watchTasks: (filter) => hub.watchTasks(filter, tenant),
    watchTaskEvents: (id, afterVersion, types) => hub.watchTaskEvents(id, afterVersion, types, tenant),
    watchEventFeed: (filter, after) => hub.watchEventFeed(filter, after, tenant),
    loadTask:
      tenant === null
        ? (id) => hub.loadTask(id)
        : async (id) => {
            const task = await hub.loadTask(id);
            return isVisible(task, tenant) ? task : undefined;
          },
  };
}
