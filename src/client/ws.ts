// The client entry alone: graphql-ws's main one also loads its server and, through it, graphql-js
// (~130 modules), which the client never runs; every CLI command and client program loaded them.
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws/client';
import type { Credentials } from './credentials.js';
import { ConnectionError, isTryAgain, RateLimitedError, requestError, saysTryAgain, UnauthenticatedError, type GraphQLErrorPayload } from './errors.js';
import type { TypedDocumentString } from './generated/graphql.js';
import { exponentialDelayMs } from '../exponential-delay.js';

/** How the client reconnects: exponential backoff from `baseMs`, capped at `maxMs`, with jitter. */
export interface RetryOptions {
  /** Reconnection attempts in a row before giving up (default 8: about 33 s on average with the default delays, from 250 ms doubling to a 10 s cap, jittered). */
  attempts: number;
  /** First delay, in ms (default 250). */
  baseMs: number;
  /** Longest delay, in ms (default 10,000). */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 8, baseMs: 250, maxMs: 10_000 };

/** Delay before reconnection attempt `retries` (0-based): the exponential step, spread ±50 %, never past maxMs. */
export function backoffMs(retries: number, retry: RetryOptions): number {
  return exponentialDelayMs(retries, { baseMs: retry.baseMs, maxMs: retry.maxMs, jitter: 0.5 });
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The close code of a refused or no longer valid credential (graphql-ws's Forbidden). */
export const CREDENTIAL_REFUSED = 4403;

/** The close code of a server throttling connections (graphql-ws's TooManyInitialisationRequests; final). */
export const THROTTLED = 4429;

/**
 * 4403 closes in a row, without a connection on a different credential in between, after which
 * the client gives up with UnauthenticatedError: the first one may be an expiry (getToken() then
 * gives a fresh token), the next ones mean the token it gives is not accepted.
 */
export const MAX_CREDENTIAL_REFUSALS = 3;

export interface WsTransportOptions {
  wsUrl: string;
  headers?: Record<string, string>;
  /** `connectionParams.authorization`, asked at every (re)connect. */
  credentials?: Credentials;
  /** A WebSocket class; default: `ws` in Node, the global WebSocket elsewhere. */
  webSocketImpl?: unknown;
  retry: RetryOptions;
  /** Ping interval, in ms; a socket without a pong within it is dropped and reconnected (0: off). */
  keepAliveMs: number;
  /**
   * Longest wait for a socket to be opened and acknowledged (`connection_ack`), in ms: past it the
   * attempt is dropped and counts as a failed one. A path that takes the TCP connection and then
   * says nothing (a frozen server, a stuck proxy) otherwise held a watch for ever.
   */
  connectTimeoutMs: number;
}

export interface ExecutionResult<R> {
  data?: R | null;
  errors?: readonly GraphQLErrorPayload[];
}

export interface WsTransport {
  /**
   * Subscribes; yields each result until the server completes the operation. Throws
   * RequestError (an `error` message; UnauthenticatedError also after MAX_CREDENTIAL_REFUSALS
   * 4403 closes, or after one when the token to send again has expired), ConnectionError
   * (reconnection attempts used up), what getToken() threw, or the signal's reason on abort.
   * Leaving the loop early unsubscribes.
   */
  subscribe<R, V>(document: TypedDocumentString<R, V>, variables: V, signal: AbortSignal, options?: SubscribeOptions<R>): AsyncGenerator<ExecutionResult<R>, void, undefined>;
  close(): Promise<void>;
}

/** Results that may wait for a caller of a resumable subscription (SubscribeOptions.maxWaiting). */
export const MAX_WAITING = 1000;

/** For a subscription whose variables resume from what arrived (a getter read at every (re)subscription). */
export interface SubscribeOptions<R> {
  /**
   * Called with each result as it arrives, before it waits for the caller: the variables should ask
   * for what follows it. graphql-ws subscribes again after a reconnect with what arrived, not with what
   * the caller has taken: asked from the caller's last, the results still waiting here came twice.
   */
  received?(result: ExecutionResult<R>): void;
  /**
   * At most this many results wait for the caller (with `received`; default MAX_WAITING): past it the
   * subscription is ended at the server, and made again, from what arrived, once the caller has taken
   * them all. Without it a caller slower than the server (a feed replayed from an old cursor, applying
   * 30 events a second) held the whole backlog in memory: 786 MB.
   */
  maxWaiting?: number;
}

/**
 * A subscription's results until the server answers that it cannot serve it now (TRY_AGAIN_CODES:
 * SHUTTING_DOWN, DATABASE_UNAVAILABLE), as a result's errors (refused when subscribing) or as the
 * operation's error (failed later): then it ends, as a stream the server completed early does,
 * for the caller to subscribe again with its backoff and from where it was. Other errors pass.
 */
export async function* untilTryAgain<R>(results: AsyncIterable<ExecutionResult<R>>): AsyncGenerator<ExecutionResult<R>, void, undefined> {
  try {
    for await (const result of results) {
      if (saysTryAgain(result.errors)) return;
      yield result;
    }
  } catch (error) {
    if (!isTryAgain(error)) throw error;
  }
}

async function nodeWebSocket(headers: Record<string, string> | undefined): Promise<unknown> {
  const { default: WebSocket } = await import('ws');
  // ws takes headers for the upgrade request as a constructor option; graphql-ws passes only (url, protocol).
  return class NodeWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, headers ? { headers } : {});
      // A socket dropped while it opens (drop(), above) reports its aborted upgrade as an 'error'
      // after graphql-ws has let go of it (onerror = null): an 'error' with no listener would throw.
      this.on('error', () => undefined);
    }
  };
}

function isGraphQLErrorList(value: unknown): value is GraphQLErrorPayload[] {
  return Array.isArray(value) && value.every((e) => typeof e === 'object' && e !== null && 'message' in e);
}

function describeWsFailure(error: unknown): string {
  const e = error as { code?: unknown; reason?: unknown; message?: unknown; error?: { code?: unknown; message?: unknown } };
  if (typeof e?.code === 'number') return `closed ${e.code}${typeof e.reason === 'string' && e.reason ? ` ${e.reason}` : ''}`;
  if (typeof e?.error?.code === 'string') return e.error.code;
  if (typeof e?.message === 'string' && e.message) return e.message;
  return String(error);
}

/**
 * When the token of an `Authorization` value expires, in ms since the epoch: the `exp` claim of a
 * JWT (a read token is one too), read without checking the signature — the client holds no key,
 * and uses it only not to send again a token it can tell is dead. Undefined for anything else (an
 * API key carries no expiry the client can see).
 */
export function tokenExpiresAt(authorization: string | undefined): number | undefined {
  const parts = authorization?.replace(/^bearer\s+/i, '').trim().split('.');
  const payload = parts?.length === 3 ? parts[1] : undefined;
  if (!payload) return undefined;
  try {
    // base64url, unpadded (RFC 7515); atob and TextDecoder exist in browsers and in Node alike.
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
    const exp = (JSON.parse(new TextDecoder().decode(bytes)) as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** After a 4403, the token to send has expired by its own `exp`: thrown to the subscriptions, not retried. */
class ExpiredToken extends Error {
  constructor(readonly expiresAt: number) {
    super(`the token expired at ${new Date(expiresAt).toISOString()}`);
  }
}

/** getToken() failed while connecting: thrown to the subscriptions as it is, not retried. */
class TokenSourceFailure extends Error {
  constructor(readonly reason: unknown) {
    super('getToken() failed', { cause: reason });
  }
}

function closeCode(value: unknown): number | undefined {
  const code = (value as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The error a subscription throws for what graphql-ws reported. */
function subscriptionError(error: unknown, wsUrl: string): unknown {
  if (error instanceof TokenSourceFailure) return error.reason;
  if (error instanceof ExpiredToken) {
    return new UnauthenticatedError([
      {
        message: `WebSocket ${wsUrl}: the credential was refused (close 4403) and ${error.message}; no fresh one came (getToken() or the static header), and it is not sent again`,
        extensions: { code: 'UNAUTHENTICATED' },
      },
    ]);
  }
  if (isGraphQLErrorList(error)) return requestError(error);
  if (closeCode(error) === CREDENTIAL_REFUSED) {
    return new UnauthenticatedError([
      { message: `WebSocket ${wsUrl}: the credential was refused ${MAX_CREDENTIAL_REFUSALS} times in a row (close 4403)`, extensions: { code: 'UNAUTHENTICATED' } },
    ]);
  }
  if (closeCode(error) === THROTTLED) {
    return new RateLimitedError([{ message: `WebSocket ${wsUrl}: too many attempts (close 4429)`, extensions: { code: 'RATE_LIMITED' } }]);
  }
  return new ConnectionError('CONNECTION_FAILED', `WebSocket ${wsUrl}: ${describeWsFailure(error)}`, { cause: error });
}

type Event<R> = { kind: 'next'; result: ExecutionResult<R> } | { kind: 'error'; error: unknown } | { kind: 'complete' };

/** graphql-ws over one lazily opened socket (open while a subscription is), reconnecting with backoff. */
export function createWsTransport(options: WsTransportOptions): WsTransport {
  let client: Promise<WsClient> | undefined;
  let activeSocket: unknown;
  /** Drops a socket still opening (its connect bound running); set by connect(). */
  let dropOpening: (() => void) | undefined;

  const connect = async (): Promise<WsClient> => {
    const isNode = typeof globalThis.process?.versions?.node === 'string';
    const webSocketImpl = options.webSocketImpl ?? (isNode ? await nodeWebSocket(options.headers) : undefined);
    let pongTimer: ReturnType<typeof setTimeout> | undefined;
    let connectTimer: ReturnType<typeof setTimeout> | undefined;
    // Set once the client exists: the timers below drop its socket through it.
    let wsClient: WsClient | undefined;
    /**
     * Drops the socket being opened or the open one, and reconnects at once, without waiting for a
     * peer that does not answer: graphql-ws's terminate() counts it closed (4499, retried) now, where
     * close() waited for the peer's close frame (ws: 30 s more). ws's terminate() frees the socket.
     */
    const drop = (): void => {
      const socket = activeSocket as { terminate?: () => void } | undefined;
      wsClient?.terminate();
      socket?.terminate?.();
    };
    dropOpening = () => {
      if (connectTimer === undefined) return;
      clearTimeout(connectTimer);
      connectTimer = undefined;
      drop();
    };
    // What the socket being opened sent, the last credential refused, and refusals in a row.
    let sent: string | undefined;
    let refused: string | undefined;
    let refusals = 0;
    wsClient = createWsClient({
      url: options.wsUrl,
      webSocketImpl,
      lazy: true,
      // Asked at every (re)connect: after a 4403 (expired or revoked), getToken() gives the new one.
      connectionParams: async () => {
        let authorization: string | undefined;
        try {
          authorization = await options.credentials?.authorization();
        } catch (error) {
          throw new TokenSourceFailure(error);
        }
        sent = authorization;
        // After a 4403, a token whose own `exp` has passed is not sent again: the server refuses
        // it however often it comes (a static token, or a getToken() that does not renew). Only
        // after a refusal: before one, the server's clock is the judge, not this one.
        const expiresAt = refusals > 0 ? tokenExpiresAt(authorization) : undefined;
        if (expiresAt !== undefined && expiresAt <= Date.now()) throw new ExpiredToken(expiresAt);
        return authorization ? { authorization } : undefined;
      },
      retryAttempts: options.retry.attempts,
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, backoffMs(retries, options.retry))),
      // Refused connections, resets and DNS failures are worth another try, not only close events;
      // graphql-ws still treats its fatal close codes (bad request, unauthorized …) as final.
      // A refused credential is retried (getToken() may have a fresh one), but only a few times in
      // a row: graphql-ws's own backoff spaces them, then the subscriptions get UNAUTHENTICATED;
      // at once when the token getToken() gives then has expired (connectionParams).
      shouldRetry: (errOrClose) => {
        if (errOrClose instanceof TokenSourceFailure || errOrClose instanceof ExpiredToken || isGraphQLErrorList(errOrClose)) return false;
        return closeCode(errOrClose) !== CREDENTIAL_REFUSED || refusals < MAX_CREDENTIAL_REFUSALS;
      },
      keepAlive: options.keepAliveMs,
      on: {
        // A socket not acknowledged in time (an upgrade or a connection_ack that never comes) is dropped.
        connecting: () => {
          clearTimeout(connectTimer);
          if (options.connectTimeoutMs > 0) connectTimer = setTimeout(drop, options.connectTimeoutMs);
        },
        opened: (socket) => {
          activeSocket = socket;
        },
        // A half-open TCP connection never closes by itself: no pong in time → dropped, and reconnect.
        ping: (received) => {
          if (received) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(drop, options.keepAliveMs);
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
        connected: (socket) => {
          clearTimeout(connectTimer);
          connectTimer = undefined;
          activeSocket = socket;
          // Accepted on another credential than the one refused: a fresh start. Accepted on the
          // same one (a server that checks only after the ack) does not count as a success.
          if (refusals > 0 && sent !== refused) refusals = 0;
        },
        closed: (event) => {
          clearTimeout(pongTimer);
          clearTimeout(connectTimer);
          connectTimer = undefined;
          activeSocket = undefined;
          if (closeCode(event) === CREDENTIAL_REFUSED) {
            refused = sent;
            refusals += 1;
          }
        },
      },
    });
    return wsClient;
  };

  return {
    async *subscribe<R, V>(document: TypedDocumentString<R, V>, variables: V, signal: AbortSignal, flow: SubscribeOptions<R> = {}) {
      signal.throwIfAborted();
      const ws = await (client ??= connect());
      // A queue read from `head`, compacted when half of it is read: shift() of an array is O(n), and
      // a slow caller can have thousands waiting.
      let events: Event<R>[] = [];
      let head = 0;
      let wake: (() => void) | undefined;
      const limit = flow.received ? (flow.maxWaiting ?? MAX_WAITING) : Number.POSITIVE_INFINITY;
      // Each subscription made here counts: what an ended one still sends is dropped.
      let generation = 0;
      let unsubscribe: (() => void) | undefined;
      let paused = false;
      const open = (): void => {
        const mine = ++generation;
        const push = (event: Event<R>): void => {
          if (mine !== generation) return;
          if (event.kind === 'next') flow.received?.(event.result);
          events.push(event);
          wake?.();
          if (event.kind === 'next' && events.length - head >= limit) {
            // The caller is behind: stop the server sending, and ask again once it has caught up.
            paused = true;
            generation += 1;
            unsubscribe?.();
          }
        };
        unsubscribe = ws.subscribe<R>(
          { query: document.toString(), variables: variables as Record<string, unknown> },
          {
            next: (result) => push({ kind: 'next', result: result as ExecutionResult<R> }),
            error: (error) => push({ kind: 'error', error }),
            complete: () => push({ kind: 'complete' }),
          },
        );
      };
      const onAbort = (): void => wake?.();
      signal.addEventListener('abort', onAbort);
      open();
      try {
        for (;;) {
          signal.throwIfAborted();
          if (head === events.length) {
            events = [];
            head = 0;
            if (paused) {
              paused = false;
              open();
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          const event = events[head++] as Event<R>;
          if (head > 1024 && head * 2 > events.length) {
            events = events.slice(head);
            head = 0;
          }
          if (event.kind === 'complete') return;
          if (event.kind === 'next') {
            yield event.result;
            continue;
          }
          throw subscriptionError(event.error, options.wsUrl);
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        generation += 1;
        unsubscribe?.();
      }
    },
    async close() {
      const ws = await client;
      client = undefined;
      try {
        const disposed = ws?.dispose();
        // dispose() waits for a socket still opening: from a peer that never answers, until the connect
        // bound, and the process could not exit meanwhile (a tester's find). Dropped at once instead.
        dropOpening?.();
        await disposed;
      } catch {
        // graphql-ws rejects with the socket's close event when it was still trying to connect (a server
        // away): closing has nothing left to report, and a caller printed it as "[object Object]".
      }
    },
  };
}
