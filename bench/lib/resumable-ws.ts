import { leanWsClient, type SubscriptionClient } from './lean-ws.js';
import { toError, wsClient } from './ws-client.js';

/** Wall-clock ms with sub-ms precision, comparable across processes on one host. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/** One subscription that can be started again from where it stands. */
export interface ResumableSpec<T> {
  query: string;
  /** The subscription field whose value is the event. */
  field: string;
  /** Variables that start it from its current position (called at every (re)start). */
  variables(): Record<string, unknown>;
  onEvent(event: T, receivedAt: number): void;
  /** Whether a `complete` now is the stream's proper end (e.g. its terminal event came); otherwise the run fails. */
  finished(): boolean;
}

export interface ResumableSubscription {
  /** Completed at its proper end. */
  readonly done: boolean;
  /** When the current (re)subscription was sent, wall-clock ms: events written before it were replayed. */
  readonly liveSince: number;
  /** How many times it was started (1 + resumes). */
  readonly starts: number;
}

interface Tracked<T> extends ResumableSubscription {
  spec: ResumableSpec<T>;
  done: boolean;
  liveSince: number;
  starts: number;
}

/**
 * A graphql-ws connection whose subscriptions survive the server going away: once told where to
 * go (`failoverTo`), a closed socket makes it open a new one there and start each subscription
 * that has not ended from its own position (`variables()`), as a client resuming by version or
 * cursor does; `reconnect()` does the same on demand. graphql-ws itself does not retry
 * (retryAttempts 0). A GraphQL error, an early `complete`, or a close nobody arranged is kept in
 * `error` and fails the run.
 */
export class ResumableConnection {
  private client: SubscriptionClient;
  private generation = 0;
  private readonly subs: Tracked<unknown>[] = [];
  private disposed = false;
  /** The first failure: a GraphQL error or a stream that ended early. */
  error: Error | undefined;
  /** Wall-clock ms when the socket was found closed while subscriptions were open. */
  lostAt: number | undefined;
  /** Wall-clock ms of the first event after the last reconnect(). */
  backAt: number | undefined;
  private failoverUrl: string | undefined;
  private lostGeneration = -1;

  constructor(private url: string) {
    this.client = this.connect();
  }

  subscribe<T>(spec: ResumableSpec<T>): ResumableSubscription {
    const sub: Tracked<T> = { spec, done: false, liveSince: 0, starts: 0 };
    this.subs.push(sub as Tracked<unknown>);
    this.start(sub as Tracked<unknown>);
    return sub;
  }

  /** Wall-clock ms of the current socket's `connection_ack` (lean client only). */
  get ackedAt(): number | undefined {
    return this.client.ackedAt;
  }

  /** Subscriptions not yet at their proper end. */
  get openCount(): number {
    return this.subs.filter((s) => !s.done).length;
  }

  /** A new socket (to `url`, default the same); every subscription not yet ended starts again from its position. */
  reconnect(url = this.url): void {
    const old = this.client;
    this.url = url;
    this.backAt = undefined;
    this.generation += 1;
    void disposeQuietly(old);
    this.client = this.connect();
    for (const sub of this.subs) if (!sub.done) this.start(sub);
  }

  /**
   * Where to go once the socket closes: the connection reconnects there as soon as it sees the
   * close, as a client given a list of servers does. Before this is called, a closed socket
   * fails the run.
   */
  failoverTo(url: string): void {
    this.failoverUrl = url;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.generation += 1;
    await disposeQuietly(this.client);
  }

  private connect(): SubscriptionClient {
    const client = benchWsClient(this.url);
    const generation = this.generation;
    client.on('closed', () => {
      if (generation === this.generation && !this.disposed && this.openCount > 0) this.lost();
    });
    return client;
  }

  private start(sub: Tracked<unknown>): void {
    const generation = this.generation;
    const current = (): boolean => generation === this.generation && !this.disposed;
    sub.starts += 1;
    sub.liveSince = wallNow();
    this.client.subscribe(
      { query: sub.spec.query, variables: sub.spec.variables() },
      {
        next: (result) => {
          if (!current()) return;
          if (result.errors) this.fail(new Error(`subscription error: ${JSON.stringify(result.errors)}`));
          else if (result.data) {
            const now = wallNow();
            this.backAt ??= now;
            sub.spec.onEvent(result.data[sub.spec.field], now);
          }
        },
        complete: () => {
          if (!current()) return;
          if (sub.spec.finished()) sub.done = true;
          // The socket closing completes nothing (it errors); a `complete` before the end is a bug.
          else this.fail(new Error(`a ${sub.spec.field} stream completed before its end (variables ${JSON.stringify(sub.spec.variables())})`));
        },
        error: (error) => {
          if (!current()) return;
          // A closed socket (a CloseEvent, not an Error) is what a restart looks like: wait for reconnect().
          if (error instanceof Error || typeof (error as { code?: unknown })?.code !== 'number') {
            this.fail(toError(error));
          } else {
            this.lost();
          }
        },
      },
    );
  }

  private lost(): void {
    // The 'closed' event and every open subscription's sink report the same close.
    if (this.lostGeneration === this.generation) return;
    this.lostGeneration = this.generation;
    this.lostAt ??= wallNow();
    const url = this.failoverUrl;
    // Nobody said a server would go: it crashed, or closed the socket on its own.
    if (url === undefined) return this.fail(new Error('the server closed the socket before any failover was arranged'));
    this.failoverUrl = undefined;
    // After the sinks of the closed socket have run: they still belong to the old generation.
    setImmediate(() => this.reconnect(url));
  }

  private fail(error: Error): void {
    this.error ??= error;
  }
}

/**
 * The subscriber client of (i) and (j): the lean one (lean-ws.ts), or with
 * `BENCH_WS_CLIENT=graphql-ws` the graphql-ws library over `ws` as before, to A/B the
 * measuring side itself (bench/README.md, "The event log (i, j)").
 */
export function benchWsClient(url: string): SubscriptionClient {
  return process.env.BENCH_WS_CLIENT === 'graphql-ws' ? (wsClient(url) as unknown as SubscriptionClient) : leanWsClient(url);
}

/** Closes a client; a socket that is already gone is not an error at clean-up. */
async function disposeQuietly(client: SubscriptionClient): Promise<void> {
  try {
    await client.dispose();
  } catch {
    // Nothing to release: the socket is closed.
  }
}
