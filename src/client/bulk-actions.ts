import { ConnectionError, requestError } from './errors.js';
import {
  CancelTasksDocument,
  GetBulkActionDocument,
  RetryTasksDocument,
  WatchBulkActionDocument,
  type BulkActionKind,
  type BulkActionStatus,
  type ClientBulkActionFragment,
  type TaskFilter,
} from './generated/graphql.js';
import type { HttpTransport } from './http.js';
import { backoffMs, delay, untilTryAgain, type RetryOptions, type WsTransport } from './ws.js';

/** A bulk action as the client reads it: its progress over the tasks it matched. */
export type BulkAction = ClientBulkActionFragment;
export type { BulkActionKind, BulkActionStatus };

export interface WatchBulkActionOptions {
  signal?: AbortSignal;
}

/** The bulk-action methods of TaskwireClient (docs/flow-control.md, "Bulk actions"). */
export interface BulkActionClient {
  /** cancelTask for every task matching `filter` now, run in batches by the workers. Needs tasks:cancel. */
  cancelTasks(filter: TaskFilter): Promise<BulkAction>;
  /** retryTask for every task matching `filter` now, each at most once. Needs tasks:retry. */
  retryTasks(filter: TaskFilter): Promise<BulkAction>;
  /** The action, or null when there is no such action. */
  bulkAction(id: string): Promise<BulkAction | null>;
  /**
   * The action's states (`bulkActionChanged` over graphql-ws): the current one first, then each
   * newer version, none twice, ending after DONE or FAILED. A dropped socket or a server restart
   * resubscribes and goes on from the newest version seen. Unknown id: RequestError `NOT_FOUND`.
   */
  watchBulkAction(id: string, options?: WatchBulkActionOptions): AsyncGenerator<BulkAction, void, undefined>;
}

export interface BulkActionClientParts {
  http: HttpTransport;
  ws: WsTransport;
  retry: RetryOptions;
  /** Aborted when the client closes. */
  lifetime: AbortSignal;
}

/** The bulk-action methods, over the client's transports. */
export function createBulkActionMethods({ http, ws, retry, lifetime }: BulkActionClientParts): BulkActionClient {
  const withLifetime = (signal?: AbortSignal): AbortSignal => AbortSignal.any(signal ? [signal, lifetime] : [lifetime]);

  async function* watchBulkAction(id: string, options: WatchBulkActionOptions = {}): AsyncGenerator<BulkAction, void, undefined> {
    const signal = withLifetime(options.signal);
    let last = 0;
    let fruitless = 0;
    for (;;) {
      let progressed = false;
      let finished = false;
      // A server that is stopping, or whose database is away, refuses it (SHUTTING_DOWN,
      // DATABASE_UNAVAILABLE): untilTryAgain ends it then, and it is made again as after an early end.
      for await (const result of untilTryAgain(ws.subscribe(WatchBulkActionDocument, { id }, signal))) {
        if (result.errors && result.errors.length > 0) throw requestError(result.errors);
        const action = result.data?.bulkActionChanged;
        if (!action) continue;
        finished = action.status !== 'RUNNING';
        if (action.version <= last) continue;
        last = action.version;
        progressed = true;
        yield action;
      }
      if (finished) return;
      // Ended before the action did (the server is going away): each new subscription starts
      // with the current state, so nothing is lost; give up only when that keeps happening.
      fruitless = progressed ? 0 : fruitless + 1;
      if (fruitless > retry.attempts) {
        throw new ConnectionError('CONNECTION_FAILED', `The server kept ending the watch of bulk action ${id} before it finished`);
      }
      await delay(backoffMs(fruitless, retry), signal);
    }
  }

  return {
    async cancelTasks(filter) {
      return (await http.request(CancelTasksDocument, { filter }, lifetime)).cancelTasks;
    },
    async retryTasks(filter) {
      return (await http.request(RetryTasksDocument, { filter }, lifetime)).retryTasks;
    },
    async bulkAction(id) {
      return (await http.request(GetBulkActionDocument, { id }, lifetime)).bulkAction;
    },
    watchBulkAction,
  };
}
