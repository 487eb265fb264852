import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * A graphql-ws client over `ws`, connected eagerly; http(s) URLs become ws(s). A closed socket
 * reaches the subscriptions' sinks; it is not also printed (graphql-ws's default for an eager
 * client is console.error). `authorization` (`Bearer <credential>`, for AUTH_MODE=on) goes in
 * `connectionParams.authorization`, where the server reads it at connection_init.
 */
export function wsClient(httpUrl: string, authorization?: string): Client {
  return createClient({
    url: httpUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    ...(authorization === undefined ? {} : { connectionParams: { authorization } }),
    lazy: false,
    onNonLazyError: () => undefined,
    retryAttempts: 0,
    keepAlive: 0,
  });
}

/** A sink's error as an Error: graphql-ws passes a closed socket's CloseEvent, which has circular references. */
export function toError(error: unknown): Error {
  if (error instanceof Error) return error;
  const close = error as { code?: unknown; reason?: unknown } | null;
  if (typeof close?.code === 'number') return new Error(`the socket closed (${close.code}${close.reason ? `: ${String(close.reason)}` : ''})`);
  try {
    return new Error(JSON.stringify(error));
  } catch {
    return new Error(String(error));
  }
}

/** Closes a client; a socket that is already gone is not an error at clean-up. */
export async function disposeQuietly(client: Client): Promise<void> {
  try {
    await client.dispose();
  } catch {
    // Nothing to release: the socket is closed.
  }
}

export interface TaskEventPayload {
  taskStatusChanged: { id: string; status: string; version: number; finishedAt?: string | null };
}

/** Subscribes and calls `onEvent` for every event; resolves `done` when the stream completes. */
export function subscribe(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  onEvent: (e: TaskEventPayload['taskStatusChanged']) => void,
): { done: Promise<void>; cancel(): void } {
  let cancel: () => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    cancel = client.subscribe<TaskEventPayload>(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) reject(new Error(`subscription error: ${JSON.stringify(result.errors)}`));
          else if (result.data) onEvent(result.data.taskStatusChanged);
        },
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => resolve(),
      },
    );
  });
  return { done, cancel: () => cancel() };
}

export const BY_ID = /* GraphQL */ `
  subscription Watch($id: ID!) { taskStatusChanged(id: $id) { id status version finishedAt } }`;
export const BY_FILTER = /* GraphQL */ `
  subscription WatchAll($filter: TaskFilter) { taskStatusChanged(filter: $filter) { id status version finishedAt } }`;
