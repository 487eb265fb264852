import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { ConnectionError, RequestError, type GraphQLErrorPayload } from './errors.js';
import type { TypedDocumentString } from './generated/graphql.js';
import { exponentialDelayMs } from '../exponential-delay.js';

/** How the client reconnects: exponential backoff from `baseMs`, capped at `maxMs`, with jitter. */
export interface RetryOptions {
  /** Reconnection attempts in a row before giving up (default 8: about 40 s with the default delays). */
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

export interface WsTransportOptions {
  wsUrl: string;
  headers?: Record<string, string>;
  /** A WebSocket class; default: `ws` in Node, the global WebSocket elsewhere. */
  webSocketImpl?: unknown;
  retry: RetryOptions;
  /** Ping interval, in ms; a socket without a pong within it is closed and reconnected (0: off). */
  keepAliveMs: number;
}

export interface ExecutionResult<R> {
  data?: R | null;
  errors?: readonly GraphQLErrorPayload[];
}

export interface WsTransport {
  /**
   * Subscribes; yields each result until the server completes the operation. Throws
   * RequestError (an `error` message), ConnectionError (reconnection attempts used up), or the
   * signal's reason on abort. Leaving the loop early unsubscribes.
   */
  subscribe<R, V>(document: TypedDocumentString<R, V>, variables: V, signal: AbortSignal): AsyncGenerator<ExecutionResult<R>, void, undefined>;
  close(): Promise<void>;
}

async function nodeWebSocket(headers: Record<string, string> | undefined): Promise<unknown> {
  const { default: WebSocket } = await import('ws');
  if (!headers) return WebSocket;
  // ws takes headers for the upgrade request as a constructor option; graphql-ws passes only (url, protocol).
  return class WebSocketWithHeaders extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers });
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

type Event<R> = { kind: 'next'; result: ExecutionResult<R> } | { kind: 'error'; error: unknown } | { kind: 'complete' };

/** graphql-ws over one lazily opened socket (open while a subscription is), reconnecting with backoff. */
export function createWsTransport(options: WsTransportOptions): WsTransport {
  let client: Promise<WsClient> | undefined;
  let activeSocket: { close(code: number, reason: string): void } | undefined;

  const connect = async (): Promise<WsClient> => {
    const isNode = typeof globalThis.process?.versions?.node === 'string';
    const webSocketImpl = options.webSocketImpl ?? (isNode ? await nodeWebSocket(options.headers) : undefined);
    let pongTimer: ReturnType<typeof setTimeout> | undefined;
    return createWsClient({
      url: options.wsUrl,
      webSocketImpl,
      lazy: true,
      retryAttempts: options.retry.attempts,
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, backoffMs(retries, options.retry))),
      // Refused connections, resets and DNS failures are worth another try, not only close events;
      // graphql-ws still treats its fatal close codes (bad request, unauthorized …) as final.
      shouldRetry: (errOrClose) => !isGraphQLErrorList(errOrClose),
      keepAlive: options.keepAliveMs,
      on: {
        // A half-open TCP connection never closes by itself: no pong in time → close, and reconnect.
        ping: (received) => {
          if (received) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => activeSocket?.close(4408, 'Pong timeout'), options.keepAliveMs);
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
        connected: (socket) => {
          activeSocket = socket as { close(code: number, reason: string): void };
        },
        closed: () => {
          clearTimeout(pongTimer);
          activeSocket = undefined;
        },
      },
    });
  };

  return {
    async *subscribe<R, V>(document: TypedDocumentString<R, V>, variables: V, signal: AbortSignal) {
      signal.throwIfAborted();
      const ws = await (client ??= connect());
      const events: Event<R>[] = [];
      let wake: (() => void) | undefined;
      const push = (event: Event<R>): void => {
        events.push(event);
        wake?.();
      };
      const onAbort = (): void => wake?.();
      signal.addEventListener('abort', onAbort);
      const unsubscribe = ws.subscribe<R>(
        { query: document.toString(), variables: variables as Record<string, unknown> },
        {
          next: (result) => push({ kind: 'next', result: result as ExecutionResult<R> }),
          error: (error) => push({ kind: 'error', error }),
          complete: () => push({ kind: 'complete' }),
        },
      );
      try {
        for (;;) {
          signal.throwIfAborted();
          const event = events.shift();
          if (!event) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          if (event.kind === 'complete') return;
          if (event.kind === 'next') {
            yield event.result;
            continue;
          }
          if (isGraphQLErrorList(event.error)) throw new RequestError(event.error);
          throw new ConnectionError('CONNECTION_FAILED', `WebSocket ${options.wsUrl}: ${describeWsFailure(event.error)}`, { cause: event.error });
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        unsubscribe();
      }
    },
    async close() {
      const ws = await client;
      client = undefined;
      await ws?.dispose();
    },
  };
}
