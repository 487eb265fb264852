import type { Principal } from '../auth/principal.js';
import { UNLIMITED, type PrincipalLimiter } from '../auth/rate-limit.js';
import { visibleTenant } from '../auth/scopes.js';
import type { GraphQLContext, ReadTokenIssuer } from '../graphql/context.js';
import type { Logger } from '../logger.js';
import type { Queue } from '../queue/index.js';
import type { TaskEventHub } from './live/hub.js';
import type { WorkflowHub } from './live/workflow-hub.js';
import type { BulkActionHub } from './live/bulk-action-hub.js';

export interface OperationContexts {
  /** The context of one operation of `principal` (HTTP request, graphql-ws subscribe). */
  contextFor(principal: Principal): GraphQLContext;
}

export interface OperationContextsOptions {
  /** The process's queue, unscoped (every tenant): each operation gets it scoped to its principal. */
  queue: Queue;
  hub: TaskEventHub;
  workflowHub: WorkflowHub;
  bulkActionHub: BulkActionHub;
  log: Logger;
  /** null while auth is off. */
  readTokens: ReadTokenIssuer | null;
  /** null while auth is off. */
  limiter: PrincipalLimiter | null;
}

/** Callers whose scoped views are kept (see createOperationContexts); past it they are made anew. */
const MAX_REMEMBERED_CALLERS = 1000;

type ScopedViews = Pick<GraphQLContext, 'queue' | 'events' | 'workflowEvents' | 'bulkActionEvents' | 'log'>;


/**
 * The key under which subscription results are shared (GraphQLContext.resultScope): what the
 * principal sees — its tenant (`*`: every tenant), its scopes and a read token's tasks — so
 * results are never shared between callers who would see different things. Tenants cannot
 * contain `*` or line breaks (isTenant). ANONYMOUS keeps `''`, as before authentication existed.
 */
export function resultScopeOf(principal: Principal): string {
  if (principal.kind === 'anonymous') return '';
  const tasks = principal.taskIds ? [...principal.taskIds].sort().join(',') : '';
  return `${visibleTenant(principal) ?? '*'}\n${[...principal.scopes].sort().join(' ')}\n${tasks}`;
}

/**
 * Makes each operation's context from its principal: the queue and the event hub as the
 * principal's tenant sees them (admin: every tenant), enqueues stamped with its tenant and id,
 * its limits, and a logger naming it (id and kind; never the credential). ANONYMOUS (auth off)
 * gets the unscoped queue and hub, as before authentication existed.
 */
export function createOperationContexts(o: OperationContextsOptions): OperationContexts {
  // The scoped views of one caller, made once and reused by its next operations: building them
  // (a scoped queue, three scoped hubs, a child logger) was a sizeable part of each authenticated
  // request. They are a pure function of the key, so a reused one is the one a new call would make.
  const views = new Map<string, ScopedViews>();
  const viewsOf = (principal: Principal, readTenant: string | null): ScopedViews => {
    const key = `${principal.kind}\n${principal.id}\n${principal.tenant}\n${readTenant ?? '*'}`;
    let found = views.get(key);
    if (!found) {
      if (views.size >= MAX_REMEMBERED_CALLERS) views.clear();
      found = {
        queue: o.queue.scoped({ readTenant, writeTenant: principal.tenant, createdBy: principal.id }),
        events: o.hub.scoped(readTenant),
        workflowEvents: o.workflowHub.scoped(readTenant),
        bulkActionEvents: o.bulkActionHub.scoped(readTenant),
        log: o.log.child({ principal: principal.id, kind: principal.kind }),
      };
      views.set(key, found);
    }
    return found;
  };
  return {
    contextFor(principal) {
      if (principal.kind === 'anonymous') {
        return { queue: o.queue, events: o.hub, workflowEvents: o.workflowHub, bulkActionEvents: o.bulkActionHub, log: o.log, resultScope: '', principal, readTokens: o.readTokens, limits: UNLIMITED };
      }
      return {
        ...viewsOf(principal, visibleTenant(principal)),
        resultScope: resultScopeOf(principal),
        principal,
        readTokens: o.readTokens,
        limits: o.limiter?.forPrincipal(principal) ?? UNLIMITED,
      };
    },
  };
}
