/**
 * What a read token's operation sees: the queue and the event hub through views that hold only
 * the token's tasks. The guard (guard.ts) gives these to the root resolvers a read token may use,
 * so the resolvers answer another id exactly as an unknown one: taskResult and node null,
 * taskStatusChanged and taskEvents NOT_FOUND, without a check of their own. Everything else of
 * the queue and the hub is refused (FORBIDDEN): a field that a read token is let into later and
 * reads more than one task fails closed instead of seeing the tenant.
 */
import type { Principal } from '../auth/principal.js';
import { mayReadTask } from '../auth/scopes.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import { assertTaskId } from '../queue/get.js';
import type { Queue } from '../queue/index.js';
import type { GraphQLContext, TaskEvents } from './context.js';

/**
 * `target` with `allowed` in place of its methods of the same name; any other method throws
 * FORBIDDEN when called. A proxy, so that methods the interface gains later are refused too.
 */
function allowOnly<T extends object>(target: T, what: string, allowed: Partial<T>): T {
  return new Proxy(target, {
    get(_target, prop) {
      if (Object.hasOwn(allowed, prop)) return allowed[prop as keyof T];
      if (typeof prop === 'symbol') return undefined;
      return () => {
        throw new ForbiddenError(`A read token may not use ${what}.${prop}: it reads only its own tasks`);
      };
    },
  });
}

/** What an id the view does not hold gets: what the hub answers for an unknown id. */
function unknownTask(id: string): never {
  assertTaskId(id);
  throw new NotFoundError('Task', id);
}

/** `ctx` with its queue and event hub limited to the tasks of `principal`, a read token (mayReadTask). */
export function readTokenContext(ctx: GraphQLContext, principal: Principal): GraphQLContext {
  const own = { has: (id: string): boolean => mayReadTask({ ...principal, taskIds: principal.taskIds ?? [] }, id) };
  const { queue, events } = ctx;
  const queueView = allowOnly<Queue>(queue, 'queue', {
    getTask: async (id) => (own.has(id) ? queue.getTask(id) : undefined),
    getTasks: async (ids) => queue.getTasks(ids.filter((id) => own.has(id))),
  });
  const eventsView = allowOnly<TaskEvents>(events, 'events', {
    watchTask: async (id) => (own.has(id) ? events.watchTask(id) : unknownTask(id)),
    watchTaskEvents: async (id, afterVersion, types) => (own.has(id) ? events.watchTaskEvents(id, afterVersion, types) : unknownTask(id)),
    loadTask: async (id) => (own.has(id) ? events.loadTask(id) : undefined),
  });
  return { ...ctx, queue: queueView, events: eventsView };
}
