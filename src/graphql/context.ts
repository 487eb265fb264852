import type { Principal } from '../auth/principal.js';
import type { PrincipalLimits } from '../auth/rate-limit.js';
import type { ReadTokenIssuer } from '../auth/read-tokens.js';
import type { Logger } from '../logger.js';
import type { FeedEvent, FeedPosition, Queue, Task, TaskEventRecord, TaskEventType, TaskFilter } from '../queue/index.js';
import type { WorkflowEvents } from './workflow-events.js';
import type { BulkActionEvents } from './bulk-action-events.js';

/**
 * Live task changes, as the subscription resolvers need them. The server implements it
 * (src/server/live/hub.ts) over one LISTEN connection per process, and gives each operation
 * the hub as its caller's tenant sees it (`hub.scoped(tenant)`): then another tenant's task is
 * exactly an unknown one (same NotFoundError, loadTask undefined), and the streams without an
 * id carry only that tenant's tasks. Resolvers need not check tenants themselves.
 */
export interface TaskEvents {
  /**
   * The task's current state, then each newer version until a terminal one (then it ends).
   * @throws BadUserInputError for a malformed id, NotFoundError for an unknown one (or another tenant's).
   */
  watchTask(id: string): Promise<AsyncIterableIterator<Task>>;
  /**
   * Every change of a task matching `filter` (each task's versions in order, none twice), from
   * when it resolves (the server's LISTEN is then in effect).
   */
  watchTasks(filter: TaskFilter): Promise<AsyncIterableIterator<Task>>;
  /**
   * The task's events after `afterVersion` from its log, each once in version order, then live;
   * ends after a terminal event that is the task's latest.
   * @throws BadUserInputError for a malformed id, NotFoundError for an unknown one (or another tenant's).
   */
  watchTaskEvents(id: string, afterVersion: number, types: readonly TaskEventType[]): Promise<AsyncIterableIterator<TaskEventRecord>>;
  /** Every event of tasks matching `filter`, in feed order, after `after` (null: from now on). */
  watchEventFeed(filter: TaskFilter, after: FeedPosition | null): Promise<AsyncIterableIterator<FeedEvent>>;
  /** A task by id, reads of one turn batched (for event payloads' `task`); undefined for another tenant's. */
  loadTask(id: string): Promise<Task | undefined>;
}

/**
 * What every resolver gets, made anew for each operation (HTTP request, graphql-ws subscribe):
 * references to the core's queue API and the process's task-event hub, and what the operation
 * may share with others.
 */
export interface GraphQLContext {
  queue: Queue;
  events: TaskEvents;
  /** Live workflow changes (workflowChanged), limited to the caller's tenant like `events`. */
  workflowEvents: WorkflowEvents;
  /** Live bulk-action progress (bulkActionChanged), limited to the caller's tenant like `events`. */
  bulkActionEvents: BulkActionEvents;
  log: Logger;
  /**
   * Operations whose contexts carry the same scope may share subscription results (the server
   * executes an event once per distinct document, variables and scope: src/server/live/
   * shared-results.ts). Nothing a result holds may depend on the caller beyond its scope: with
   * callers that see different things (tenants, scopes), the scope must tell them apart. One
   * scope, `''`, while every caller sees the same.
   */
  resultScope: string;
  /**
   * Who is asking (ANONYMOUS while AUTH_MODE=off). `queue` and `events` above are already
   * limited to what it may see (its tenant; a read token's tasks are checked by the guard).
   */
  principal: Principal;
  /** Signs read tokens; null while auth is off (enqueueTask's `readToken` is then null). */
  readTokens: ReadTokenIssuer | null;
  /** Per-principal limits the resolvers apply (the enqueue rate). */
  limits: PrincipalLimits;
}

// Defined beside their implementations (src/auth), kept importable from here.
export type { PrincipalLimits, ReadTokenIssuer, WorkflowEvents };
