import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/** The SSE answers of subscriptions, which a stop ends without `event: complete`. */
export interface SseStreams {
  /** Marks subscriptions' answers, and lets stop() end them (yoga's own SSE framing is kept). */
  plugin: Plugin;
  /**
   * Ends every subscription's SSE answer open now, without `event: complete`: what was written is
   * sent, then the body ends as a normal end of the response. From then on, a subscription asked for
   * over SSE is answered 503 SHUTTING_DOWN with `Retry-After: 1`.
   */
  stop(): void;
}

/** What the plugin needs of node's ServerResponse (yoga's serverContext.res under node:http). */
interface NodeResponse {
  readonly closed: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  once(event: 'close', listener: () => void): unknown;
}

const SHUTTING_DOWN_BODY = JSON.stringify({
  errors: [{ message: 'The server is shutting down; subscribe again', extensions: { code: 'SHUTTING_DOWN' } }],
});

/**
 * A result whose every error is SHUTTING_DOWN: a subscription a stopping hub refused. Both
 * transports leave it for the next server instead of answering it (an answer ends in `complete`).
 */
export function refusedForStop(result: unknown): boolean {
  const errors = (result as ExecutionResult | undefined)?.errors;
  const code = (e: NonNullable<ExecutionResult['errors']>[number]): unknown =>
    e.extensions?.code ?? (e.originalError as { code?: unknown } | undefined)?.code;
  return Array.isArray(errors) && errors.length > 0 && errors.every((e) => code(e) === 'SHUTTING_DOWN');
}

/**
 * On a stop, a subscription's SSE answer must not end with `event: complete`: that says the
 * subscription is over (graphql-sse's client and the GraphQL over SSE spec read it so, and an
 * `EventSource` page closes on it), though its task runs on. A body that ends without it is a
 * dropped connection to them: graphql-sse's client subscribes again ("Connection closed while
 * having active streams" is a retryable NetworkError), `EventSource` reconnects. yoga writes
 * `event: complete` whenever a stream ends, so the stop cancels the answer's body instead of
 * ending the stream (yoga's SSE processor, its framing and pings, stay as they are).
 */
export function createSseStreams(): SseStreams {
  /**
   * Answers that carry a subscription, the ones a stop may end: its stream (to end when the
   * connection goes, see onResponse), or null for a stopping hub's refusal.
   */
  const subscriptions = new WeakMap<Request, AsyncIterable<unknown> | null>();
  const open = new Set<() => void>();
  let stopped = false;

  const plugin: Plugin = {
    onResultProcess({ request, result }) {
      if (isAsyncIterable(result)) subscriptions.set(request, result);
      else if (refusedForStop(result)) subscriptions.set(request, null);
    },
    onResponse({ request, response, setResponse, fetchAPI, serverContext }) {
      if (!subscriptions.has(request) || !response.body) return;
      if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) return;
      if (stopped) {
        // Asked for after the stop: a 503 is what graphql-sse's client retries and EventSource
        // reports as an error; a stream refused with SHUTTING_DOWN would end in `complete`.
        response.body.cancel().catch(() => undefined);
        setResponse(
          new fetchAPI.Response(SHUTTING_DOWN_BODY, {
            status: 503,
            headers: { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' },
          }),
        );
        return;
      }
      // Cancelling yoga's body runs its cancel (its ping stops, the subscription's stream is
      // returned, i.e. unsubscribed) and ends the answer as a normal end of the body, never
      // through the pull that writes `event: complete`.
      const body = response.body;
      const stream = subscriptions.get(request);
      const cut = (): void => {
        open.delete(cut);
        body.cancel().catch(() => undefined);
      };
      open.add(cut);
      // The answer's connection closing ends the subscription, whether the body ended by itself or
      // the client left. @whatwg-node's node adapter does not cancel the body of a response whose
      // connection closed before it was sent (it returns early), and a body whose reading never began
      // has no stream to return when cancelled (yoga makes its iterator in the body's start), so a
      // client gone within the first milliseconds left the subscription open for good: its slot of
      // MAX_SUBSCRIPTIONS_PER_PRINCIPAL, its credential watch, its hub subscriber (the soak's 1.5 % of
      // SSE subscriptions). So the stream itself is returned too; returning an ended one does nothing.
      const gone = (): void => {
        cut();
        if (stream) void Promise.resolve(stream[Symbol.asyncIterator]().return?.()).catch(() => undefined);
      };
      const res = (serverContext as { res?: NodeResponse }).res;
      if (!res) return;
      if (res.closed || res.destroyed || res.writableEnded || request.signal?.aborted) gone();
      else res.once('close', gone);
    },
  };

  return {
    plugin,
    stop() {
      stopped = true;
      for (const cut of [...open]) cut();
    },
  };
}
