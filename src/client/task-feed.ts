import { ConnectionError, requestError } from './errors.js';
import {
  FollowTaskEventFeedDocument,
  FollowTaskEventFeedWithTaskDocument,
  TaskEventFeedCursorDocument,
  type FollowTaskEventFeedSubscription,
  type FollowTaskEventFeedWithTaskSubscription,
  type TaskFilter,
} from './generated/graphql.js';
import type { HttpTransport } from './http.js';
import { readRetrying } from './task-events.js';
import type { Task, TaskEvent } from './task-state.js';
import { backoffMs, delay, untilTryAgain, type ExecutionResult, type RetryOptions, type WsTransport } from './ws.js';

/** An event of the feed with its task, as the server read it just before sending the event. */
export type FeedEventWithTask = TaskEvent & { task: Task };

/** Which events `feed()` follows, and from where. */
export interface FeedOptions {
  /** Only the events of tasks this filter matches (`status`: the status after the event). Default: every task's. */
  filter?: TaskFilter;
  /**
   * Start after this position: an event's `cursor`, or what `feedCursor()` answered. Default: the
   * feed's position when the call is made, read before subscribing, so that a reconnect before the
   * first event loses nothing either.
   */
  after?: string;
  /** Also each event's task (`task { … }`, the row as it is when the server sends the event). */
  withTask?: boolean;
  signal?: AbortSignal;
}

/** The event-feed methods of TaskwireClient (docs/event-log.md, "Consuming the feed like a change stream"). */
export interface FeedClient {
  /**
   * Every event of every task the filter matches, in commit order, live, until the signal aborts or
   * the client closes (the feed has no end). Each event once, none skipped, also across reconnects and
   * server restarts: every (re)subscription asks for what follows the last event taken. Save an
   * event's `cursor` with what you did with it, and pass it as `after` to go on from there in another
   * process. Needs tasks:read.
   */
  feed(options: FeedOptions & { withTask: true }): AsyncGenerator<FeedEventWithTask, void, undefined>;
  feed(options?: FeedOptions & { withTask?: false }): AsyncGenerator<TaskEvent, void, undefined>;
  /** `withTask` known only at run time: `task` is there when it was asked for. */
  feed(options: FeedOptions): AsyncGenerator<TaskEvent & { task?: Task }, void, undefined>;
  /** The feed's position now (`taskEventFeedCursor`): `feed({ after })` from it sends every event committed after this answer. */
  feedCursor(options?: { signal?: AbortSignal }): Promise<string>;
}

/**
 * A subscription that ran this long, or took an event, was no failure when it ends: a server that
 * stops (it completes its subscriptions first) and comes back now and then never uses up the retries.
 * One that ends sooner without an event is the server refusing it (stopping, its database away) or
 * failing it over and over: that many in a row, `retry.attempts`, and the feed gives up.
 */
const STEADY_MS = 10_000;

type FeedResult = FollowTaskEventFeedSubscription | FollowTaskEventFeedWithTaskSubscription;

/** The feed methods, over the client's transports. */
export function createFeedMethods({ http, ws, retry, lifetime }: { http: HttpTransport; ws: WsTransport; retry: RetryOptions; lifetime: AbortSignal }): FeedClient {
  const withLifetime = (signal?: AbortSignal): AbortSignal => AbortSignal.any(signal ? [signal, lifetime] : [lifetime]);

  async function* follow(options: FeedOptions = {}): AsyncGenerator<TaskEvent | FeedEventWithTask, void, undefined> {
    const signal = withLifetime(options.signal);
    // The cursor of the last event that arrived (taken, or waiting in the transport to be taken).
    // Retried as a watch's reads are: a feed started during a restart waits for the server.
    let cursor = options.after ?? (await readRetrying(retry, signal, async () => (await http.request(TaskEventFeedCursorDocument, {}, signal)).taskEventFeedCursor));
    // graphql-ws serializes the variables at every (re)subscription, reading this getter each time:
    // after a reconnect it asks for what follows the last event that arrived, not for the first position.
    const variables = {
      filter: options.filter ?? null,
      get after(): string {
        return cursor;
      },
    };
    const flow = {
      received(result: ExecutionResult<FeedResult>): void {
        const arrived = result.data?.taskEventFeed?.cursor;
        if (arrived !== undefined) cursor = arrived;
      },
    };
    const document = options.withTask === true ? FollowTaskEventFeedWithTaskDocument : FollowTaskEventFeedDocument;
    let fruitless = 0;
    for (;;) {
      const began = Date.now();
      let progressed = false;
      // SHUTTING_DOWN and DATABASE_UNAVAILABLE end the subscription (untilTryAgain); it is made again below.
      for await (const result of untilTryAgain<FeedResult>(ws.subscribe<FeedResult, typeof variables>(document, variables, signal, flow))) {
        // An event with errors carries no cursor: throw rather than step over it.
        if (result.errors && result.errors.length > 0) throw requestError(result.errors);
        const event = result.data?.taskEventFeed;
        if (!event) throw new ConnectionError('BAD_RESPONSE', 'The server sent a feed event without data');
        progressed = true;
        yield event;
      }
      // Ended by the server (it is stopping, or its database is away): subscribe again from the last cursor.
      fruitless = progressed || Date.now() - began >= STEADY_MS ? 0 : fruitless + 1;
      if (fruitless > retry.attempts) throw new ConnectionError('CONNECTION_FAILED', 'The server kept ending the event feed');
      await delay(backoffMs(fruitless, retry), signal);
    }
  }

  return {
    feed: follow as FeedClient['feed'],
    async feedCursor(options = {}) {
      return (await http.request(TaskEventFeedCursorDocument, {}, withLifetime(options.signal))).taskEventFeedCursor;
    },
  };
}
