import { ConnectionError, RequestError, TaskCancelledError, TaskFailedError, TaskwireClientError, WaitTimeoutError } from './errors.js';
import {
  CancelTaskDocument,
  EnqueueTaskDocument,
  GetTaskDocument,
  ListTasksDocument,
  QueueStatsDocument,
  RetryTaskDocument,
  WatchTaskDocument,
  type ClientTaskFragment,
  type QueueStatsQuery,
  type TaskFilter,
  type TaskStatus,
} from './generated/graphql.js';
import { createHttpTransport } from './http.js';
import { backoffMs, createWsTransport, delay, DEFAULT_RETRY, type RetryOptions } from './ws.js';

/** A task as the server reports it (every field of the GraphQL `Task`; dates are ISO-8601 strings). */
export type Task = ClientTaskFragment;
export type QueueStats = QueueStatsQuery['queueStats'][number];
export type { TaskFilter, TaskStatus };

export interface ClientOptions {
  /** The server's GraphQL endpoint, e.g. `http://127.0.0.1:4000/graphql`. */
  url: string;
  /** graphql-ws endpoint for watch/wait (default: `url` with ws:// or wss://). */
  wsUrl?: string;
  /** Sent with every HTTP request (and, in Node, with the WebSocket upgrade request). */
  headers?: Record<string, string>;
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
  /** A WebSocket class (default: `ws` in Node, the global WebSocket in browsers). */
  webSocketImpl?: unknown;
  /** Reconnection of watches (defaults: 8 attempts, 250 ms doubling to at most 10 s, jittered). */
  retry?: Partial<RetryOptions>;
  /** Longest wait for one HTTP request, in ms (default 30,000). */
  requestTimeoutMs?: number;
  /** WebSocket ping interval, in ms (default 10,000; 0: off); no pong within it means reconnect. */
  keepAliveMs?: number;
}

/** Everything `enqueueTask` takes besides the name and the positional arguments. */
export interface EnqueueOptions {
  kwargs?: Record<string, unknown>;
  queue?: string;
  /** -100..100, higher first. */
  priority?: number;
  /** Not run before this time. */
  runAfter?: Date | string;
  /** 1..1000 (default: the task definition's, else 1). */
  maxAttempts?: number;
  /** The same key again returns the first task. */
  idempotencyKey?: string;
}

/** One page of `list()`. */
export interface TaskPage {
  tasks: Task[];
  /** Pass as `after` to continue from here later. */
  endCursor: string | null;
  hasNextPage: boolean;
  /** Tasks matching the filter over all pages; on the first page only, when `count: true`. */
  totalCount?: number;
}

export interface ListOptions {
  /** Tasks per request, 1..100 (default 20). */
  pageSize?: number;
  /** Stop after this many tasks in all (default: follow every page). */
  limit?: number;
  /** Start after this cursor (a page's `endCursor`). */
  after?: string;
  /** Ask for `totalCount` on the first page (a count query on the server). */
  count?: boolean;
  signal?: AbortSignal;
}

export interface WatchOptions {
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Give up after this many ms with WaitTimeoutError (default: wait for ever). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with every state seen, e.g. to show progress. */
  onUpdate?: (task: Task) => void;
}

/** A typed client of a taskwire server. */
export interface TaskwireClient {
  /** Enqueues a task; resolves at once with the stored row (PENDING). */
  enqueue(name: string, args?: unknown[], options?: EnqueueOptions): Promise<Task>;
  /** The task, or null when there is no such task. */
  get(id: string): Promise<Task | null>;
  /** Pages of tasks, newest first, following the cursors. */
  list(filter?: TaskFilter, options?: ListOptions): AsyncGenerator<TaskPage, void, undefined>;
  /**
   * Every state of the task, starting with the current one, in version order (no version twice),
   * ending after the terminal state. Survives server restarts: it reconnects with backoff and
   * resumes from the current state. Unknown id: RequestError `NOT_FOUND`.
   */
  watch(id: string, options?: WatchOptions): AsyncGenerator<Task, void, undefined>;
  /**
   * The task's return value once it SUCCEEDED (Celery's `AsyncResult.get(timeout)`, without polling).
   * @throws TaskFailedError (with every attempt's errors), TaskCancelledError, WaitTimeoutError.
   */
  wait<T = unknown>(id: string, options?: WaitOptions): Promise<T>;
  /** PENDING/RETRYING → CANCELLED; RUNNING → `cancelRequested`, then CANCELLED. CONFLICT once finished. */
  cancel(id: string): Promise<Task>;
  /** FAILED/CANCELLED → PENDING with fresh attempts. CONFLICT otherwise. */
  retry(id: string): Promise<Task>;
  /** Counts by status per queue. */
  queueStats(): Promise<QueueStats[]>;
  /** Ends open watches (they throw CLIENT_CLOSED) and closes the WebSocket. */
  close(): Promise<void>;
}

/** `http(s)://host/graphql` → `ws(s)://host/graphql`. */
function toWsUrl(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/** Creates a client. Nothing connects until the first call; watches share one WebSocket. */
export function createClient(options: ClientOptions): TaskwireClient {
  const retry: RetryOptions = { ...DEFAULT_RETRY, ...options.retry };
  const http = createHttpTransport({
    url: options.url,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const ws = createWsTransport({
    wsUrl: options.wsUrl ?? toWsUrl(options.url),
    retry,
    keepAliveMs: options.keepAliveMs ?? 10_000,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.webSocketImpl ? { webSocketImpl: options.webSocketImpl } : {}),
  });
  const lifetime = new AbortController();
  const withLifetime = (signal?: AbortSignal): AbortSignal => (signal ? AbortSignal.any([signal, lifetime.signal]) : lifetime.signal);

  async function* watch(id: string, watchOptions: WatchOptions = {}): AsyncGenerator<Task, void, undefined> {
    const signal = withLifetime(watchOptions.signal);
    let seenVersion = 0;
    let fruitless = 0;
    for (;;) {
      let progressed = false;
      for await (const result of ws.subscribe(WatchTaskDocument, { id }, signal)) {
        if (result.errors && result.errors.length > 0) throw new RequestError(result.errors);
        const task = result.data?.taskStatusChanged;
        // The first result of every (re)subscription is the current state: skip what we have seen.
        if (!task || task.version <= seenVersion) continue;
        seenVersion = task.version;
        progressed = true;
        yield task;
        if (task.isFinished) return;
      }
      // The server completed the subscription before a terminal state: it is shutting down
      // (stop() ends subscriptions before closing sockets). Subscribe again, with backoff, and
      // give up only when that keeps happening without anything new.
      fruitless = progressed ? 0 : fruitless + 1;
      if (fruitless > retry.attempts) {
        throw new ConnectionError('CONNECTION_FAILED', `The server kept ending the watch of task ${id} before it finished`);
      }
      await delay(backoffMs(fruitless, retry), signal);
    }
  }

  return {
    async enqueue(name, args = [], enqueueOptions = {}) {
      const { runAfter, ...rest } = enqueueOptions;
      const input = { name, args, ...rest, ...(runAfter === undefined ? {} : { runAfter: runAfter instanceof Date ? runAfter.toISOString() : runAfter }) };
      const data = await http.request(EnqueueTaskDocument, { input }, lifetime.signal);
      return data.enqueueTask.task;
    },
    async get(id) {
      return (await http.request(GetTaskDocument, { id }, lifetime.signal)).taskResult;
    },
    async *list(filter = {}, listOptions = {}) {
      const pageSize = listOptions.pageSize ?? 20;
      const signal = withLifetime(listOptions.signal);
      let remaining = listOptions.limit ?? Number.POSITIVE_INFINITY;
      let after = listOptions.after ?? null;
      let withCount = listOptions.count ?? false;
      while (remaining > 0) {
        const first = Math.min(pageSize, remaining);
        const { tasks } = await http.request(ListTasksDocument, { first, after, filter, withCount }, signal);
        const page: TaskPage = {
          tasks: tasks.edges.map((edge) => edge.node),
          endCursor: tasks.pageInfo.endCursor,
          hasNextPage: tasks.pageInfo.hasNextPage,
          ...(tasks.totalCount === undefined ? {} : { totalCount: tasks.totalCount }),
        };
        remaining -= page.tasks.length;
        yield page;
        if (!page.hasNextPage || page.endCursor === null) return;
        after = page.endCursor;
        withCount = false;
      }
    },
    watch,
    async wait<T = unknown>(id: string, waitOptions: WaitOptions = {}): Promise<T> {
      const timeout = waitOptions.timeoutMs === undefined ? undefined : AbortSignal.timeout(waitOptions.timeoutMs);
      const signals = [waitOptions.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
      let last: Task | undefined;
      try {
        for await (const task of watch(id, { signal: AbortSignal.any(signals) })) {
          last = task;
          waitOptions.onUpdate?.(task);
        }
      } catch (error) {
        if (timeout?.aborted && !waitOptions.signal?.aborted && !lifetime.signal.aborted) {
          throw new WaitTimeoutError(id, waitOptions.timeoutMs ?? 0, last);
        }
        throw error;
      }
      if (!last) throw new ConnectionError('BAD_RESPONSE', `The watch of task ${id} ended without a state`);
      if (last.status === 'FAILED') throw new TaskFailedError(last);
      if (last.status === 'CANCELLED') throw new TaskCancelledError(last);
      return last.returnValue as T;
    },
    async cancel(id) {
      return (await http.request(CancelTaskDocument, { id }, lifetime.signal)).cancelTask;
    },
    async retry(id) {
      return (await http.request(RetryTaskDocument, { id }, lifetime.signal)).retryTask;
    },
    async queueStats() {
      return (await http.request(QueueStatsDocument, {}, lifetime.signal)).queueStats;
    },
    async close() {
      if (!lifetime.signal.aborted) lifetime.abort(new TaskwireClientError('CLIENT_CLOSED', 'The client was closed'));
      await ws.close();
    },
  };
}
