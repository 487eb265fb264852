import { print, type GraphQLFormattedError } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** What one subscription received, as it arrives. */
export interface Stream<R> {
  /** `data` of every result, in order. */
  values: R[];
  /** Errors: of an `error` message (graphql-ws), or of results that carried errors. */
  errors: GraphQLFormattedError[];
  /**
   * Settles when the stream ends: 'complete' (the server completed it), 'error' (an error
   * message), 'closed' (SSE: the connection ended without `event: complete`).
   * Rejects on a transport failure (e.g. a WebSocket closed under a running subscription).
   */
  done: Promise<'complete' | 'error' | 'closed'>;
  /** Resolves with the first value (already received or not) matching `predicate`. */
  waitFor(predicate: (value: R) => boolean, timeoutMs?: number): Promise<R>;
  unsubscribe(): void;
}

export interface SubscriptionClients {
  /** ws://…/graphql */
  wsUrl: string;
  /** A new graphql-ws client (closed by closeAll). */
  wsClient(): Client;
  /** Subscribes over graphql-ws (`client` or a shared one). */
  subscribeWs<R, V>(document: TypedDocumentNode<R, V>, variables: V, client?: Client): Stream<R>;
  /** Subscribes over SSE: POST with `Accept: text/event-stream`. */
  subscribeSse<R, V>(document: TypedDocumentNode<R, V>, variables: V): Stream<R>;
  closeAll(): Promise<void>;
}

interface Collector<R> {
  stream: Stream<R>;
  next(data: R | null | undefined, errors: readonly GraphQLFormattedError[] | undefined): void;
  end(kind: 'complete' | 'error' | 'closed', errors?: readonly GraphQLFormattedError[]): void;
  fail(error: unknown): void;
}

function createCollector<R>(unsubscribe: () => void): Collector<R> {
  const values: R[] = [];
  const errors: GraphQLFormattedError[] = [];
  const waiters = new Set<{ predicate: (v: R) => boolean; resolve: (v: R) => void }>();
  let settle!: { resolve: (kind: 'complete' | 'error' | 'closed') => void; reject: (e: unknown) => void };
  const done = new Promise<'complete' | 'error' | 'closed'>((resolve, reject) => {
    settle = { resolve, reject };
  });
  done.catch(() => undefined);
  const stream: Stream<R> = {
    values,
    errors,
    done,
    unsubscribe: () => unsubscribe(),
    waitFor(predicate, timeoutMs = 15_000) {
      const found = values.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<R>((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (v: R) => {
            clearTimeout(timer);
            resolve(v);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching value within ${timeoutMs} ms; got ${JSON.stringify(values)} errors ${JSON.stringify(errors)}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
  return {
    stream,
    next(data, errs) {
      if (errs) errors.push(...errs);
      if (data === null || data === undefined) return;
      values.push(data);
      for (const w of [...waiters]) {
        if (w.predicate(data)) {
          waiters.delete(w);
          w.resolve(data);
        }
      }
    },
    end(kind, errs) {
      if (errs) errors.push(...errs);
      settle.resolve(kind);
    },
    fail: (error) => settle.reject(error),
  };
}

/** Reads `text/event-stream` blocks (`event:` + `data:` lines, blank-line separated). */
async function readSse(body: ReadableStream<Uint8Array>, onEvent: (event: string, data: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (block.split('\n').every((line) => line.startsWith(':'))) continue; // keep-alive comment
      onEvent(event, data.join('\n'));
    }
  }
}

export function createSubscriptionClients(url: string): SubscriptionClients {
  const wsUrl = url.replace(/^http/, 'ws');
  const clients: Client[] = [];
  const aborts = new Set<AbortController>();
  let shared: Client | undefined;

  const wsClient = (): Client => {
    const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, keepAlive: 0 });
    clients.push(client);
    return client;
  };

  return {
    wsUrl,
    wsClient,
    subscribeWs<R, V>(document: TypedDocumentNode<R, V>, variables: V, client?: Client): Stream<R> {
      const c = client ?? (shared ??= wsClient());
      let stop = (): void => undefined;
      const collector = createCollector<R>(() => stop());
      stop = c.subscribe<R>(
        { query: print(document), variables: variables as Record<string, unknown> },
        {
          next: (result) => collector.next(result.data as R | null | undefined, result.errors as GraphQLFormattedError[] | undefined),
          error: (error) => {
            if (Array.isArray(error)) collector.end('error', error as GraphQLFormattedError[]);
            else collector.fail(error);
          },
          complete: () => collector.end('complete'),
        },
      );
      return collector.stream;
    },
    subscribeSse<R, V>(document: TypedDocumentNode<R, V>, variables: V): Stream<R> {
      const abort = new AbortController();
      aborts.add(abort);
      const collector = createCollector<R>(() => abort.abort());
      void (async () => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ query: print(document), variables }),
          signal: abort.signal,
        });
        if (!res.body) throw new Error(`SSE: no body (HTTP ${res.status})`);
        let ended = false;
        await readSse(res.body, (event, data) => {
          if (event === 'next') {
            const result = JSON.parse(data) as { data?: R; errors?: GraphQLFormattedError[] };
            collector.next(result.data, result.errors);
          } else if (event === 'complete') {
            ended = true;
            collector.end(collector.stream.errors.length > 0 && collector.stream.values.length === 0 ? 'error' : 'complete');
          }
        });
        if (!ended) collector.end('closed');
      })().catch((error: unknown) => {
        if (abort.signal.aborted) collector.end('complete');
        else collector.fail(error);
      }).finally(() => aborts.delete(abort));
      return collector.stream;
    },
    async closeAll() {
      for (const abort of aborts) abort.abort();
      await Promise.all(clients.map((c) => c.dispose()));
      clients.length = 0;
      shared = undefined;
    },
  };
}
