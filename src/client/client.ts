import { ConnectionError, RequestError, TaskCancelledError, TaskFailedError, TaskwireClientError, WaitTimeoutError } from './errors.js';
import { mutationById } from './mutation-answer.js';
import {
  CancelTaskDocument,
  CancelTaskStateDocument,
  EnqueueTaskDocument,
  EnqueueTasksDocument,
  type ClientEnqueuedTaskFragment,
  type EnqueueTaskInput,
  GetTaskDocument,
  ListTasksDocument,
  QueueStatsDocument,
  RetryTaskDocument,
  RetryTaskStateDocument,
  RunTaskNowDocument,
  RunTaskNowStateDocument,
  type QueueStatsQuery,
  type TaskEventType,
  type TaskFilter,
  type TaskStatus,
} from './generated/graphql.js';
import { createCredentials, type TokenSource } from './credentials.js';
import { createHttpTransport } from './http.js';
import { checkInteger, checkUrl, MAX_PAGE_SIZE, MAX_TIMER_MS } from './options.js';
import { followTaskEvents, isUnreadEnding, readTask, readTaskEvents, runsUpTo, watchTask } from './task-events.js';
import { numberRuns, RUN_EVENT_TYPES, type AnswerOptions, type Task, type TaskEvent, type TaskState } from './task-state.js';
import { createWsTransport, DEFAULT_RETRY, type RetryOptions } from './ws.js';
import { createWorkflowMethods, type WorkflowClient } from './workflows.js';
import { createScheduleMethods, type ScheduleClient } from './schedules.js';
import { createBulkActionMethods, type BulkActionClient } from './bulk-actions.js';
import { createQueueMethods, type QueueClient } from './queues.js';
import { createReadTokenMethods, type EnqueuedWithReadToken, type ReadTokenClient } from './read-tokens.js';
import { createFeedMethods, type FeedClient } from './task-feed.js';

export type QueueStats = QueueStatsQuery['queueStats'][number];
export type { AnswerOptions, Task, TaskEvent, TaskEventType, TaskFilter, TaskState, TaskStatus, TokenSource };

export interface ClientOptions {
  /** The server's GraphQL endpoint, e.g. `http://127.0.0.1:4000/graphql`. */
  url: string;
  /** graphql-ws endpoint for watch/wait (default: `url` with ws:// or wss://). */
  wsUrl?: string;
  /**
   * Sent with every HTTP request (and, in Node, with the WebSocket upgrade request). Without
   * `getToken`, an `authorization` entry here is also sent in graphql-ws `connectionParams`.
   */
  headers?: Record<string, string>;
  /**
   * The credential (API key, JWT or read token) to send as `Authorization: Bearer <token>`: asked
   * before every HTTP request and at every graphql-ws (re)connect (`connectionParams.authorization`).
   * When the server ends the socket with 4403 (expired, revoked or refused), the client asks again
   * and reconnects; watches, events and output resume by version. The same refusal three times
   * in a row ends them with UnauthenticatedError, and so does one when the token it gives then has
   * expired by its own `exp` (it is not sent again). Undefined (or a result of undefined): no token.
   * Takes precedence over an `authorization` in `headers`.
   */
  getToken?: TokenSource;
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
  /** A WebSocket class (default: `ws` in Node, the global WebSocket in browsers). */
  webSocketImpl?: unknown;
  /** Reconnection of watches (defaults: 8 attempts, 250 ms doubling to at most 10 s, jittered). */
  retry?: Partial<RetryOptions>;
  /** Longest wait for one HTTP request, and for a WebSocket to open and be acknowledged, in ms (default 30,000). */
  requestTimeoutMs?: number;
  /** WebSocket ping interval, in ms (default 10,000; 0: off); no pong within it drops the socket and reconnects. */
  keepAliveMs?: number;
}

/**
 * A task's retry delay: `min(maxMs, baseMs × factor^(attempt − 1))`, then ±`jitter` (a fraction).
 * The server checks the ranges (BAD_USER_INPUT naming e.g. `input.backoff.factor`).
 */
export interface BackoffOptions {
  /** Delay after the first failed attempt, in ms: 0..a year (default 1000). */
  baseMs?: number;
  /** Longest delay, in ms: 0..a year (default 600,000). */
  maxMs?: number;
  /** Growth per attempt: 1..100 (1: a fixed delay; default 2). */
  factor?: number;
  /** Random spread as a fraction of the delay: 0..1 (default 0.25). */
  jitter?: number;
}

/**
 * What the client needs of a task definition's types, matched by shape so that it imports no worker
 * code: `typeof resizeImage` (a defineTask result, `import type` in a browser bundle) fits.
 */
export interface TaskTypes<A = unknown[], K = Record<string, unknown>, R = unknown> {
  readonly '~types'?: { readonly args: A; readonly kwargs: K; readonly result: R };
}
/** The positional arguments of `D` (TaskTypes): what `enqueue<typeof def>` checks `args` against. */
type ArgsOf<D extends TaskTypes> = NonNullable<D['~types']>['args'];
/** The keyword arguments of `D` (TaskTypes). */
type KwargsOf<D extends TaskTypes> = NonNullable<D['~types']>['kwargs'];

/** Everything `enqueueTask` takes besides the name and the positional arguments (`K`: the keyword arguments' type). */
export interface EnqueueOptions<K = Record<string, unknown>> {
  kwargs?: K;
  queue?: string;
  /** -100..100, higher first. */
  priority?: number;
  /** Not run before this time. */
  runAfter?: Date | string;
  /** 1..1000 (default: the task definition's, else 1). */
  maxAttempts?: number;
  /** The same key again returns the first task. */
  idempotencyKey?: string;
  /** Whose turn it shares, e.g. a customer id: the queue's `perKeyConcurrency` caps RUNNING tasks per key (1..255 characters). */
  concurrencyKey?: string;
  /** Each attempt's time limit, in ms (1..2^31 − 1; default: the definition's): past it the handler is aborted, a `TimeoutError`. */
  timeoutMs?: number;
  /** How long the finished task is kept, in ms from its end (`expiresAt`; 0..1,000 years; default: the definition's, else the server's RESULT_TTL_MS). */
  resultTtlMs?: number;
  /** The spacing of its retries (with `maxAttempts` > 1); settings left out: the definition's, then the defaults. */
  backoff?: BackoffOptions;
  /** `true`: resolve with `{ task, readToken }` instead (EnqueueWithReadTokenOptions). */
  readToken?: false;
}

/**
 * One task of `enqueueMany`: its name and positional arguments, with `enqueue`'s options beside
 * them (no read token: `createReadToken` makes one for up to 100 of the tasks).
 */
export interface EnqueueManyItem<K = Record<string, unknown>> extends Omit<EnqueueOptions<K>, 'readToken'> {
  name: string;
  args?: unknown[];
}

/**
 * A task as `enqueueMany` answers it: the stored row without its payloads (args, kwargs,
 * returnValue, errors), which a batch of 1,000 could not ask for within the server's operation
 * cost; `get(id)` reads the whole task.
 */
export type EnqueuedTask = ClientEnqueuedTaskFragment;

/** `enqueue` options that also ask for a read token of the new task (`enqueueTask`'s `readToken`). */
export interface EnqueueWithReadTokenOptions<K = Record<string, unknown>> extends Omit<EnqueueOptions<K>, 'readToken'> {
  readToken: true;
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
  /** Stop after this many tasks in all, 0 or more (default: follow every page). */
  limit?: number;
  /** Start after this cursor (a page's `endCursor`). */
  after?: string;
  /** Ask for `totalCount` on the first page (a count query on the server). */
  count?: boolean;
  signal?: AbortSignal;
}

export interface WatchOptions {
  /**
   * Yield the states after this version, replayed from the task's event log (0: its whole life,
   * from PENDING). Default: the current state first, then the state after each later event.
   */
  afterVersion?: number;
  signal?: AbortSignal;
}

export interface EventsOptions {
  /** Only events with a higher version (default 0: from the task's first event, ENQUEUED). */
  afterVersion?: number;
  /** Only these types (default: all). The stream still ends when the task does. */
  types?: readonly TaskEventType[];
  /**
   * true (default): replay, then live until the task ends, over graphql-ws. false: what the log
   * holds now, over HTTP in pages, then the end.
   */
  follow?: boolean;
  signal?: AbortSignal;
}

export type OutputOptions = Omit<EventsOptions, 'types'>;

/** One chunk of a task's output, as its handler wrote it with `ctx.output(chunk)`. */
export interface OutputChunk {
  /** The chunk (any JSON; `{ truncated: true }` ends an output cut at MAX_OUTPUT_BYTES). */
  data: unknown;
  /** The version of its OUTPUT event: pass as `afterVersion` to resume after it. */
  version: number;
  /** The attempt that wrote it (output of every attempt is kept). */
  attempt: number;
  /**
   * The run that wrote it: 1 for the task's first STARTED, then one more for each later one. A
   * new run's output starts where this changes, also when `attempt` does not (a run released by
   * a worker's graceful shutdown, or snoozed, gives its attempt back and the next run keeps it).
   */
  run: number;
  /** When it was stored (ISO-8601). */
  at: string;
}

export interface WaitOptions {
  /** Give up after this many ms with WaitTimeoutError (default: wait for ever). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with every state seen, e.g. to show progress. */
  onUpdate?: (task: Task) => void;
  /**
   * Follow from this version, as `watch`'s `afterVersion`: `onUpdate` gets the state after every
   * later event, replayed from the log, instead of the current state first. `task.version` of the
   * task `enqueue` returned shows every transition after ENQUEUED, also of a task that ended before
   * the WebSocket was open. The result is the same either way. Default: from the current state.
   */
  afterVersion?: number;
}

/** A typed client of a taskwire server (workflows: WorkflowClient, src/client/workflows.ts; schedules: ScheduleClient, src/client/schedules.ts; bulk actions: BulkActionClient, src/client/bulk-actions.ts; the event feed: FeedClient, src/client/task-feed.ts). */
export interface TaskwireClient extends WorkflowClient, ScheduleClient, BulkActionClient, QueueClient, ReadTokenClient, FeedClient {
  /**
   * Enqueues a task; resolves at once with `{ task, readToken }`: the stored row (PENDING) and a
   * read token for it alone, to hand to a browser (null while the server's AUTH_MODE=off).
   */
  enqueue<D extends TaskTypes = TaskTypes>(name: string, args: ArgsOf<D> | undefined, options: EnqueueWithReadTokenOptions<KwargsOf<D>>): Promise<EnqueuedWithReadToken>;
  /** Enqueues a task; resolves at once with the stored row (PENDING). */
  enqueue<D extends TaskTypes = TaskTypes>(name: string, args?: ArgsOf<D>, options?: EnqueueOptions<KwargsOf<D>>): Promise<Task>;
  /**
   * Enqueues 1..1000 tasks in one request and one statement, all or nothing (`enqueueTasks`):
   * resolves with each stored task (EnqueuedTask: the row without its args, kwargs, returnValue
   * and errors; `get(id)` reads those) in the order of `items`. A bad item fails the whole call with a
   * RequestError whose `field` names it (`inputs[3].args`); nothing is stored then. More items:
   * call again per 1,000 (each call is all or nothing on its own).
   */
  enqueueMany(items: readonly EnqueueManyItem[]): Promise<EnqueuedTask[]>;
  /** The task, or null when there is no such task. */
  get(id: string): Promise<Task | null>;
  /** Pages of tasks, newest first, following the cursors. */
  list(filter?: TaskFilter, options?: ListOptions): AsyncGenerator<TaskPage, void, undefined>;
  /**
   * The task's states, ending after the terminal one: the current state first, then its state
   * after each later event but OUTPUT (with `afterVersion`: after each event past that version,
   * replayed from the log). Each version once, in order, none skipped, also across reconnects and
   * server restarts (it resumes by version). Unknown id: RequestError `NOT_FOUND`.
   */
  watch(id: string, options?: WatchOptions): AsyncGenerator<Task, void, undefined>;
  /**
   * The task's events (its log): every version after `afterVersion` once, in order, ending after
   * the terminal event; resumes by version across reconnects and restarts.
   */
  events(id: string, options?: EventsOptions): AsyncGenerator<TaskEvent, void, undefined>;
  /** The task's output chunks, in order, over every attempt; ends when the task does (or, with `follow: false`, at what exists now). */
  output(id: string, options?: OutputOptions): AsyncGenerator<OutputChunk, void, undefined>;
  /**
   * The task's return value once it SUCCEEDED (Celery's `AsyncResult.get(timeout)`, without polling).
   * @throws TaskFailedError (with every attempt's errors), TaskCancelledError, WaitTimeoutError.
   */
  wait<T = unknown>(id: string, options?: WaitOptions): Promise<T>;
  /**
   * PENDING/RETRYING → CANCELLED; RUNNING → `cancelRequested`, then CANCELLED. CONFLICT once finished.
   * Needs tasks:cancel; the answer's payload needs tasks:read too (else `{ payload: false }`: AnswerOptions).
   */
  cancel(id: string, options: AnswerOptions & { payload: false }): Promise<TaskState>;
  cancel(id: string, options?: AnswerOptions & { payload?: true | undefined }): Promise<Task>;
  cancel(id: string, options?: AnswerOptions): Promise<Task | TaskState>;
  /** FAILED/CANCELLED → PENDING with fresh attempts. CONFLICT otherwise. Needs tasks:retry (the payload: as `cancel`). */
  retry(id: string, options: AnswerOptions & { payload: false }): Promise<TaskState>;
  retry(id: string, options?: AnswerOptions & { payload?: true | undefined }): Promise<Task>;
  retry(id: string, options?: AnswerOptions): Promise<Task | TaskState>;
  /**
   * A PENDING or RETRYING task waiting for its runAfter (delayed, snoozed, backing off) made due now,
   * status and attempts unchanged (runTaskNow); one already due comes back as it is. CONFLICT when it
   * is RUNNING, finished or BLOCKED. Needs tasks:retry (the payload: as `cancel`).
   */
  runNow(id: string, options: AnswerOptions & { payload: false }): Promise<TaskState>;
  runNow(id: string, options?: AnswerOptions & { payload?: true | undefined }): Promise<Task>;
  runNow(id: string, options?: AnswerOptions): Promise<Task | TaskState>;
  /** Counts by status per queue. */
  queueStats(): Promise<QueueStats[]>;
  /** Ends open watches (they throw CLIENT_CLOSED) and closes the WebSocket; every later call throws CLIENT_CLOSED. */
  close(): Promise<void>;
}

/**
 * An item as `EnqueueTaskInput`: `runAfter` as ISO-8601 text, `args` [] when left out.
 * @throws TaskwireClientError BAD_USER_INPUT naming `field` for a Date that is no time (`new Date('x')`)
 */
function toInput({ runAfter, args = [], ...rest }: EnqueueManyItem, field = 'input.runAfter'): EnqueueTaskInput {
  if (runAfter instanceof Date && Number.isNaN(runAfter.getTime())) throw new TaskwireClientError('BAD_USER_INPUT', `${field} is an invalid Date`, { field });
  return { args, ...rest, ...(runAfter === undefined ? {} : { runAfter: runAfter instanceof Date ? runAfter.toISOString() : runAfter }) };
}

/** `http(s)://host/graphql` → `ws(s)://host/graphql`. */
function toWsUrl(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/** Creates a client. Nothing connects until the first call; watches share one WebSocket. */
export function createClient(options: ClientOptions): TaskwireClient {
  checkUrl('url', options.url, ['http:', 'https:']);
  checkUrl('wsUrl', options.wsUrl, ['ws:', 'wss:']);
  checkInteger('requestTimeoutMs', options.requestTimeoutMs, 1, MAX_TIMER_MS);
  checkInteger('keepAliveMs', options.keepAliveMs, 0, MAX_TIMER_MS);
  const retry: RetryOptions = { ...DEFAULT_RETRY, ...options.retry };
  checkInteger('retry.attempts', retry.attempts, 0, Number.POSITIVE_INFINITY);
  checkInteger('retry.baseMs', retry.baseMs, 0, MAX_TIMER_MS);
  checkInteger('retry.maxMs', retry.maxMs, 0, MAX_TIMER_MS);
  const credentials = createCredentials(options.getToken, options.headers);
  const http = createHttpTransport({
    url: options.url,
    credentials,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const ws = createWsTransport({
    wsUrl: options.wsUrl ?? toWsUrl(options.url),
    retry,
    keepAliveMs: options.keepAliveMs ?? 10_000,
    connectTimeoutMs: options.requestTimeoutMs ?? 30_000,
    credentials,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.webSocketImpl ? { webSocketImpl: options.webSocketImpl } : {}),
  });
  const lifetime = new AbortController();
  // A signal of its own for each operation: listeners go on it, not on the client's lifetime
  // (AbortSignal.any links them without a listener), so many open watches are no leak warning.
  const withLifetime = (signal?: AbortSignal): AbortSignal => AbortSignal.any(signal ? [signal, lifetime.signal] : [lifetime.signal]);

  const streams = { ws, http, retry };

  async function* watch(id: string, watchOptions: WatchOptions = {}): AsyncGenerator<Task, void, undefined> {
    // As wait() checks it: NaN or Infinity yielded nothing and ended as if the task had (a tester's find).
    checkInteger('afterVersion', watchOptions.afterVersion, 0, Number.MAX_SAFE_INTEGER);
    yield* watchTask(streams, id, watchOptions.afterVersion, withLifetime(watchOptions.signal));
  }

  function events(id: string, eventsOptions: EventsOptions = {}): AsyncGenerator<TaskEvent, void, undefined> {
    const signal = withLifetime(eventsOptions.signal);
    const range = {
      ...(eventsOptions.afterVersion === undefined ? {} : { afterVersion: eventsOptions.afterVersion }),
      ...(eventsOptions.types === undefined ? {} : { types: eventsOptions.types }),
    };
    return eventsOptions.follow === false ? readTaskEvents(http, id, range, signal) : followTaskEvents(streams, id, range, signal);
  }

  async function* output(id: string, outputOptions: OutputOptions = {}): AsyncGenerator<OutputChunk, void, undefined> {
    const after = outputOptions.afterVersion ?? 0;
    const runs = after > 0 ? await runsUpTo(http, id, after, withLifetime(outputOptions.signal)) : 0;
    for await (const event of numberRuns(events(id, { ...outputOptions, types: RUN_EVENT_TYPES }), runs)) {
      yield { data: event.output, version: event.version, attempt: event.attempt, at: event.at, run: event.run };
    }
  }

  async function enqueue(name: string, args: unknown[] = [], enqueueOptions: EnqueueOptions | EnqueueWithReadTokenOptions = {}): Promise<Task | EnqueuedWithReadToken> {
    const { readToken, ...rest } = enqueueOptions;
    const { enqueueTask } = await http.request(EnqueueTaskDocument, { input: toInput({ name, args, ...rest }), withReadToken: readToken === true }, lifetime.signal);
    return readToken === true ? { task: enqueueTask.task, readToken: enqueueTask.readToken ?? null } : enqueueTask.task;
  }

  return {
    ...createWorkflowMethods({ http, ws, retry, lifetime: lifetime.signal }),
    ...createScheduleMethods({ http, lifetime: lifetime.signal }),
    ...createBulkActionMethods({ http, ws, retry, lifetime: lifetime.signal }),
    ...createQueueMethods({ http, lifetime: lifetime.signal }),
    ...createReadTokenMethods({ http, lifetime: lifetime.signal }),
    ...createFeedMethods({ http, ws, retry, lifetime: lifetime.signal }),
    // One implementation of both overloads: the result's shape follows `readToken`.
    enqueue: enqueue as TaskwireClient['enqueue'],
    async enqueueMany(items) {
      const inputs = items.map((item, i) => toInput(item, `inputs[${i}].runAfter`));
      const { enqueueTasks } = await http.request(EnqueueTasksDocument, { inputs }, lifetime.signal);
      return enqueueTasks.tasks;
    },
    async get(id) {
      return (await http.request(GetTaskDocument, { id }, lifetime.signal)).taskResult;
    },
    async *list(filter = {}, listOptions = {}) {
      checkInteger('pageSize', listOptions.pageSize, 1, MAX_PAGE_SIZE);
      checkInteger('limit', listOptions.limit, 0, Number.POSITIVE_INFINITY);
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
    events,
    output,
    async wait<T = unknown>(id: string, waitOptions: WaitOptions = {}): Promise<T> {
      checkInteger('timeoutMs', waitOptions.timeoutMs, 0, MAX_TIMER_MS);
      checkInteger('afterVersion', waitOptions.afterVersion, 0, Number.MAX_SAFE_INTEGER);
      const timeout = waitOptions.timeoutMs === undefined ? undefined : AbortSignal.timeout(waitOptions.timeoutMs);
      const signals = [waitOptions.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
      const signal = AbortSignal.any(signals);
      let last: Task | undefined;
      try {
        const after = waitOptions.afterVersion === undefined ? {} : { afterVersion: waitOptions.afterVersion };
        for await (const task of watch(id, { ...after, signal })) {
          last = task;
          waitOptions.onUpdate?.(task);
        }
        // Nothing after afterVersion: the task ended at or before it, and its row is the end.
        if (!last && waitOptions.afterVersion !== undefined) last = await readTask(streams, id, withLifetime(signal));
      } catch (error) {
        if (timeout?.aborted && !waitOptions.signal?.aborted && !lifetime.signal.aborted) {
          throw new WaitTimeoutError(id, waitOptions.timeoutMs ?? 0, last);
        }
        throw error;
      }
      if (!last) throw new ConnectionError('BAD_RESPONSE', `The watch of task ${id} ended without a state`);
      if (last.status === 'FAILED') throw new TaskFailedError(last);
      if (last.status === 'CANCELLED') throw new TaskCancelledError(last);
      // Its events said SUCCEEDED, and the row with the return value was deleted before it was read.
      if (isUnreadEnding(last)) {
        throw new RequestError([
          { message: `Task "${id}" succeeded and was deleted (its resultTtlMs) before its return value was read`, extensions: { code: 'NOT_FOUND', field: 'id' } },
        ]);
      }
      return last.returnValue as T;
    },
    cancel: mutationById(http, lifetime.signal, 'cancelTask', 'cancel', { full: CancelTaskDocument, state: CancelTaskStateDocument }) as TaskwireClient['cancel'],
    retry: mutationById(http, lifetime.signal, 'retryTask', 'retry', { full: RetryTaskDocument, state: RetryTaskStateDocument }) as TaskwireClient['retry'],
    runNow: mutationById(http, lifetime.signal, 'runTaskNow', 'runNow', { full: RunTaskNowDocument, state: RunTaskNowStateDocument }) as TaskwireClient['runNow'],
    async queueStats() {
      return (await http.request(QueueStatsDocument, {}, lifetime.signal)).queueStats;
    },
    async close() {
      if (!lifetime.signal.aborted) lifetime.abort(new TaskwireClientError('CLIENT_CLOSED', 'The client was closed'));
      await ws.close();
    },
  };
}
