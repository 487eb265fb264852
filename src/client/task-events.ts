import { ConnectionError, isTryAgain, RequestError, requestError } from './errors.js';
import { FollowTaskEventsDocument, GetTaskDocument, TaskEventPageDocument, TaskVersionDocument, type FollowTaskEventsSubscription, type TaskEventPageQuery, type TaskEventType } from './generated/graphql.js';
import type { HttpTransport } from './http.js';
import { applyEvent, ENDING_EVENT_TYPES, initialState, isTerminalStatus, isWaitingStatus, STATE_EVENT_TYPES, type Task, type TaskEvent } from './task-state.js';
import { backoffMs, delay, untilTryAgain, type ExecutionResult, type RetryOptions, type WsTransport } from './ws.js';

/** Which of a task's events to read. */
export interface EventRange {
  /** Only events with a higher version (default 0: from the task's first event). */
  afterVersion?: number;
  /** Only these types (default: all). */
  types?: readonly TaskEventType[];
}

/** The transports a stream uses, and how it retries. */
export interface Streams {
  ws: WsTransport;
  http: HttpTransport;
  retry: RetryOptions;
}

/** Events per page of the log over HTTP (the server's most). */
const PAGE_SIZE = 1000;

/**
 * The error the server gives for an unknown task id (its NotFoundError's very message, src/errors.ts),
 * for the reads that learn of it from a null: the same wording whichever way the client asked.
 */
export function notFound(id: string): RequestError {
  return new RequestError([{ message: `Task "${id}" was not found`, extensions: { code: 'NOT_FOUND', field: 'id' } }]);
}

/**
 * A task's events, replayed from its log and then live (`taskEvents` over graphql-ws), each
 * version once and in order, ending after the terminal event. It survives reconnects and
 * server restarts by resuming from the last version it took: after a dropped socket, or a stopping
 * server's 1012 close, graphql-ws subscribes again by itself; a subscription that completes before
 * its terminal event (a server of an older release completed them at its stop), or that the server
 * refuses or fails for now (SHUTTING_DOWN; DATABASE_UNAVAILABLE, its database restarting), is made
 * again here, with the `retry` backoff. Either way the next subscription asks for what follows
 * that version, and anything sent twice is dropped here by version.
 */
export async function* followTaskEvents(
  { ws, http, retry }: Streams,
  id: string,
  range: EventRange,
  signal: AbortSignal,
): AsyncGenerator<TaskEvent, void, undefined> {
  const wanted = range.types && range.types.length > 0 ? new Set(range.types) : undefined;
  let types = wanted ? [...new Set([...wanted, ...ENDING_EVENT_TYPES])] : null;
  let last = range.afterVersion ?? 0;
  // The highest version that arrived (taken, or waiting in the transport to be taken).
  let arrived = last;
  // graphql-ws serializes the variables at every (re)subscription, reading these getters each
  // time: a subscription it renews after a reconnect asks for what follows the last version
  // that arrived, not for everything after the first one (nor again for what waits here).
  const variables = {
    id,
    get afterVersion(): number {
      return arrived;
    },
    get types(): TaskEventType[] | null {
      return types;
    },
  };
  // A task streaming output faster than its reader takes it waits in the log, not here (the transport's maxWaiting).
  const flow = {
    received(result: ExecutionResult<FollowTaskEventsSubscription>): void {
      const version = result.data?.taskEvents?.version;
      if (version !== undefined && version > arrived) arrived = version;
    },
  };
  let ended = false;
  let fruitless = 0;
  for (;;) {
    let progressed = false;
    // A server that is stopping refuses new subscriptions with SHUTTING_DOWN, one whose database
    // is away answers DATABASE_UNAVAILABLE ("nothing was done, try again"): untilTryAgain ends the
    // stream then, and like one the server ended early it is made again (to another server, or
    // this one once it or its database is back).
    let unknown: TaskEventType[] = [];
    try {
      for await (const result of untilTryAgain(ws.subscribe(FollowTaskEventsDocument, variables, signal, flow))) {
        if (result.errors && result.errors.length > 0) throw requestError(result.errors);
        const event = result.data?.taskEvents;
        if (!event || event.version <= last) continue;
        last = event.version;
        progressed = true;
        // The server ends the stream after a terminal event that is the last one known (a
        // retryTask may follow a terminal event): the same rule here, applied when it completes.
        ended = isTerminalStatus(event.status);
        if (!wanted || wanted.has(event.type)) yield event;
      }
    } catch (error) {
      unknown = types ? typesUnknownToServer(error, types) : [];
      if (unknown.length === 0) throw error;
    }
    if (unknown.length > 0 && types) {
      // A server of an older release, which cannot send those events either: ask again without them.
      types = types.filter((t) => !unknown.includes(t));
      continue;
    }
    if (ended || (await finishedBy(http, id, last, signal))) return;
    // Completed before the end, or refused with SHUTTING_DOWN or DATABASE_UNAVAILABLE: the server
    // is shutting down (it ends subscriptions before it closes sockets), or its database is away.
    // Subscribe again, with backoff, and give up only when that keeps happening without anything new.
    fruitless = progressed ? 0 : fruitless + 1;
    if (fruitless > retry.attempts) {
      throw new ConnectionError('CONNECTION_FAILED', `The server kept ending the events of task ${id} before it finished`);
    }
    await delay(backoffMs(fruitless, retry), signal);
  }
}

/**
 * The event types of `asked` that the server refused as not in its TaskEventType (a server of an
 * older release, during a rolling upgrade or before its own: graphql-js's coercion message,
 * `Value "PROMOTED" does not exist in "TaskEventType" enum.`), when that is all it refused; else none.
 */
function typesUnknownToServer(error: unknown, asked: readonly TaskEventType[]): TaskEventType[] {
  if (!(error instanceof RequestError) || error.errors.length === 0) return [];
  const unknown: TaskEventType[] = [];
  for (const e of error.errors) {
    const m = e.extensions?.code === 'BAD_USER_INPUT' ? /Value "([A-Z_]+)" does not exist in "TaskEventType" enum/.exec(e.message) : null;
    const type = asked.find((t) => t === m?.[1]);
    if (!type || ENDING_EVENT_TYPES.includes(type)) return [];
    unknown.push(type);
  }
  return unknown;
}

/**
 * Whether the task finished at or before `version`: then a stream that asked for what follows
 * it ended because nothing will (a resume after the end). False when that cannot be told now
 * (the server is going away, or its database: CONNECTION_FAILED, TRY_AGAIN_CODES): the caller
 * subscribes again.
 */
async function finishedBy(http: HttpTransport, id: string, version: number, signal: AbortSignal): Promise<boolean> {
  try {
    const task = (await http.request(TaskVersionDocument, { id }, signal)).taskResult;
    if (!task) throw notFound(id);
    return task.isFinished && task.version <= version;
  } catch (error) {
    if (error instanceof ConnectionError || isTryAgain(error)) return false;
    throw error;
  }
}

/** A task's events as they are now, oldest first, page by page over HTTP (`Task.events`); no waiting. */
export async function* readTaskEvents(http: HttpTransport, id: string, range: EventRange, signal: AbortSignal): AsyncGenerator<TaskEvent, void, undefined> {
  const afterVersion = range.afterVersion ?? 0;
  const types = range.types && range.types.length > 0 ? [...range.types] : null;
  let after: string | null = null;
  for (;;) {
    const data: TaskEventPageQuery = await http.request(TaskEventPageDocument, { id, first: PAGE_SIZE, after, types }, signal);
    if (!data.taskResult) throw notFound(id);
    const { edges, pageInfo } = data.taskResult.events;
    // The page cursors are the server's to make: skipping to afterVersion happens here.
    for (const { node } of edges) if (node.version > afterVersion) yield node;
    if (!pageInfo.hasNextPage || pageInfo.endCursor === null) return;
    after = pageInfo.endCursor;
  }
}

/**
 * How many runs of the task began at or before `version`: its STARTED events there. A run that
 * gave its attempt back (RELEASED, SNOOZED) keeps the attempt number into the next run, so only
 * these events tell where a run's output starts; `output()` resumed after a version counts from
 * them to number its runs as a read from the start would.
 */
export async function runsUpTo(http: HttpTransport, id: string, version: number, signal: AbortSignal): Promise<number> {
  let runs = 0;
  for await (const event of readTaskEvents(http, id, { types: ['STARTED'] }, signal)) {
    if (event.version > version) break;
    runs++;
  }
  return runs;
}

/**
 * `read()` again with the `retry` backoff while the server cannot be reached or answers that it
 * cannot serve now (TRY_AGAIN_CODES: stopping, its database away): a stream outlives restarts of
 * both. Only for reads, which are always safe to ask again.
 */
export async function readRetrying<T>(retry: RetryOptions, signal: AbortSignal, read: () => Promise<T>): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await read();
    } catch (error) {
      const transient = (error instanceof ConnectionError && error.code === 'CONNECTION_FAILED') || isTryAgain(error);
      if (!transient || failures >= retry.attempts) throw error;
      await delay(backoffMs(failures, retry), signal);
    }
  }
}

/** The task over HTTP, retried as readRetrying does: a watch outlives restarts of the server and of its database. */
export function readTask({ http, retry }: Streams, id: string, signal: AbortSignal): Promise<Task> {
  return readRetrying(retry, signal, async () => {
    const task = (await http.request(GetTaskDocument, { id }, signal)).taskResult;
    if (!task) throw notFound(id);
    return task;
  });
}

/**
 * Whether the state after an event needs a read of the row: a terminal state (events carry no
 * return value), a live return to waiting (a retry, a snooze, a release, retryTask: events
 * carry neither the new `runAfter` nor why the task waits, nor a raised `maxAttempts`), and a live
 * PROMOTED (why it still waits, if it does). A replayed
 * one (older than the first read) is not read: the row has moved on from it.
 */
function needsRead(before: Task, after: Task, firstRead: Task, event: TaskEvent): boolean {
  if (after.isFinished) return true;
  const live = after.version > firstRead.version;
  // PROMOTED: due now, but a paused queue or a limit may hold it still, which only the row says.
  return live && ((isWaitingStatus(after.status) && !isWaitingStatus(before.status)) || event.type === 'PROMOTED');
}

/**
 * The states after `afterVersion`, each built from the one before by its event; `read` (the
 * row as read) stands in for the state at its own version, and the row is read again where
 * events do not tell enough (needsRead); that read stands in for the state when it is still at
 * its version.
 */
async function* statesAfter(streams: Streams, base: Task, read: Task, afterVersion: number, signal: AbortSignal): AsyncGenerator<Task, void, undefined> {
  let state = base;
  const range = { afterVersion: base === read ? read.version : 0, types: STATE_EVENT_TYPES };
  for await (const event of followTaskEvents(streams, read.id, range, signal)) {
    const before = state;
    state = event.version === read.version ? read : applyEvent(state, event);
    if (state !== read && needsRead(before, state, read, event)) {
      const fresh = await readTaskIfKept(streams, read.id, signal, state);
      if (fresh === undefined) UNREAD_ENDINGS.add(state);
      else if (fresh.version === state.version) state = fresh;
    }
    if (event.version > afterVersion) yield state;
  }
}

/**
 * Terminal states built from the events alone, the task's row gone when it was read (deleted by its
 * retention right at its end: a `resultTtlMs` shorter than the read): without the return value
 * and `expiresAt`. `wait()` cannot answer a success's result from one.
 */
const UNREAD_ENDINGS = new WeakSet<Task>();

/** Whether `task` is a terminal state whose row was gone when read (UNREAD_ENDINGS). */
export function isUnreadEnding(task: Task): boolean {
  return UNREAD_ENDINGS.has(task);
}

/**
 * readTask, but for a terminal `state`: undefined when the row is gone (deleted at its end), where
 * readTask throws NOT_FOUND. A consumer slower than the task's retention otherwise got NOT_FOUND in
 * place of the terminal state its events had told (a tester's find, session 48).
 */
async function readTaskIfKept(streams: Streams, id: string, signal: AbortSignal, state: Task): Promise<Task | undefined> {
  try {
    return await readTask(streams, id, signal);
  } catch (error) {
    if (state.isFinished && error instanceof RequestError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

/**
 * `watch()`: the task's states, each built from the one before by its event (src/client/task-state.ts).
 * Without `afterVersion` the current state first, then the states after it; with it, the states
 * after that version, replayed from the task's first event when they are older than the row.
 */
export async function* watchTask(streams: Streams, id: string, afterVersion: number | undefined, signal: AbortSignal): AsyncGenerator<Task, void, undefined> {
  const current = await readTask(streams, id, signal);
  if (afterVersion === undefined) {
    yield current;
    if (!current.isFinished) yield* statesAfter(streams, current, current, current.version, signal);
  } else if (afterVersion >= current.version) {
    if (!current.isFinished) yield* statesAfter(streams, current, current, afterVersion, signal);
  } else {
    // States older than the row: replayed from the task's first event.
    yield* statesAfter(streams, initialState(current), current, afterVersion, signal);
  }
}
