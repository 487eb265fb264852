import type { GraphQLFormattedError } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * The three transports with a credential of the test's choosing, for the authentication tests:
 * HTTP POST, SSE (fetch with Accept: text/event-stream) and graphql-ws (the graphql-ws client on
 * `ws`), each reporting what a client sees (status, codes, close codes). Everything made here is
 * closed by closeAll().
 */

export interface HttpAnswer {
  status: number;
  headers: Headers;
  data: Record<string, unknown> | null | undefined;
  errors: GraphQLFormattedError[] | undefined;
  text: string;
}

export interface SseStream {
  status: number;
  /** `next` payloads, in order. */
  results: { data?: Record<string, unknown> | null; errors?: GraphQLFormattedError[] }[];
  /** 'complete' (`event: complete`), or 'closed' (the body ended without it). */
  ended: Promise<'complete' | 'closed'>;
  abort(): void;
}

export interface WsConnection {
  client: Client;
  /** The close event of the socket, once the server closes it. */
  closed: Promise<{ code: number; reason: string }>;
  /** Subscribes; results and the end as SseStream reports them ('error': an `error` message). */
  subscribe(query: string, variables?: Record<string, unknown>): WsSubscription;
}

export interface WsSubscription {
  results: { data?: Record<string, unknown> | null; errors?: readonly GraphQLFormattedError[] }[];
  /** 'complete', 'error' (an error message; its errors in `errors`), or the close code when the socket closed under it. */
  ended: Promise<'complete' | 'error' | number>;
  errors: GraphQLFormattedError[];
  unsubscribe(): void;
}

export interface AuthTransports {
  post(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<HttpAnswer>;
  sse(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<SseStream>;
  /** A graphql-ws client that sends `connectionParams` (none: undefined) and connects at once. */
  ws(connectionParams?: Record<string, unknown>): WsConnection;
  /** The HTTP status a WebSocket upgrade gets with these headers: 101 when the socket opened. */
  upgradeStatus(headers: Record<string, string>): Promise<number>;
  closeAll(): Promise<void>;
}

/** Bearer header for a credential. */
export const bearer = (credential: string): Record<string, string> => ({ authorization: `Bearer ${credential}` });

/**
 * The transports of one client. `headers` go on every request and WebSocket upgrade (e.g. the
 * `X-Forwarded-For` a proxy in front of the server would add).
 */
export function createAuthTransports(url: string, o: { headers?: Record<string, string> } = {}): AuthTransports {
  const wsUrl = url.replace(/^http/, 'ws');
  const always = o.headers ?? {};
  /** WebSocket as graphql-ws constructs it (url, protocols), with this client's headers on the upgrade. */
  class HeadersWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers: always });
    }
  }
  const clients: Client[] = [];
  const aborts = new Set<AbortController>();
  return {
    async post(query, variables, headers = {}) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...always, ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const text = await res.text();
      let json: { data?: Record<string, unknown> | null; errors?: GraphQLFormattedError[] } = {};
      try {
        json = JSON.parse(text) as typeof json;
      } catch {
        // not JSON: left to the test (text, status)
      }
      return { status: res.status, headers: res.headers, data: json.data, errors: json.errors, text };
    },
    async sse(query, variables, headers = {}) {
      const abort = new AbortController();
      aborts.add(abort);
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...always, ...headers },
        body: JSON.stringify({ query, variables }),
        signal: abort.signal,
      });
      const results: SseStream['results'] = [];
      const ended = (async (): Promise<'complete' | 'closed'> => {
        if (!res.body) return 'closed';
        const decoder = new TextDecoder();
        const reader = res.body.getReader();
        let buffer = '';
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return 'closed';
            buffer += decoder.decode(value, { stream: true });
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const event = /^event: *(.*)$/m.exec(block)?.[1];
              const data = block
                .split('\n')
                .filter((l) => l.startsWith('data:'))
                .map((l) => l.slice(5).trimStart())
                .join('\n');
              if (event === 'complete') return 'complete';
              if (event === 'next' || (event === undefined && data)) results.push(JSON.parse(data) as SseStream['results'][number]);
            }
          }
        } catch (error) {
          if (abort.signal.aborted) return 'closed';
          throw error;
        } finally {
          aborts.delete(abort);
        }
      })();
      ended.catch(() => undefined);
      return { status: res.status, results, ended, abort: () => abort.abort() };
    },
    ws(connectionParams) {
      let resolveClosed!: (c: { code: number; reason: string }) => void;
      const closed = new Promise<{ code: number; reason: string }>((resolve) => (resolveClosed = resolve));
      const client = createClient({
        url: wsUrl,
        webSocketImpl: HeadersWebSocket,
        retryAttempts: 0,
        lazy: false,
        keepAlive: 0,
        connectionParams,
        on: { closed: (event) => resolveClosed(event as { code: number; reason: string }) },
        // The test looks at the close code itself.
        onNonLazyError: () => undefined,
      });
      clients.push(client);
      return {
        client,
        closed,
        subscribe(query, variables) {
          const results: WsSubscription['results'] = [];
          const errors: GraphQLFormattedError[] = [];
          let settle!: (v: 'complete' | 'error' | number) => void;
          const ended = new Promise<'complete' | 'error' | number>((resolve) => (settle = resolve));
          const unsubscribe = client.subscribe(
            { query, variables },
            {
              next: (result) => {
                results.push(result as WsSubscription['results'][number]);
                if (result.errors) errors.push(...(result.errors as GraphQLFormattedError[]));
              },
              error: (error) => {
                if (Array.isArray(error)) {
                  errors.push(...(error as GraphQLFormattedError[]));
                  settle('error');
                } else settle((error as { code?: number }).code ?? -1);
              },
              complete: () => settle('complete'),
            },
          );
          return { results, ended, errors, unsubscribe };
        },
      };
    },
    upgradeStatus(headers) {
      return new Promise((resolve, reject) => {
        const socket = new WebSocket(wsUrl, 'graphql-transport-ws', { headers });
        socket.once('open', () => {
          socket.close();
          resolve(101);
        });
        socket.once('unexpected-response', (req, res) => {
          resolve(res.statusCode ?? 0);
          req.destroy();
        });
        socket.once('error', reject);
      });
    },
    async closeAll() {
      for (const abort of aborts) abort.abort();
      await Promise.all(clients.splice(0).map((c) => c.dispose()));
    },
  };
}
