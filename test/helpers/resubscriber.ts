import { setTimeout as delay } from 'node:timers/promises';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * One lazy graphql-ws client per server, shared by every subscriber. No automatic retry: a
 * subscriber decides itself where to subscribe again, and with what position (graphql-ws's own
 * retry would send the first variables again, e.g. a feed's first cursor).
 */
export interface ServerClients {
  size: number;
  client(index: number): Client;
  dispose(): Promise<void>;
}

export function createServerClients(httpUrls: string[]): ServerClients {
  const clients = httpUrls.map((url) =>
    createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0, lazyCloseTimeout: 0 }),
  );
  return {
    size: clients.length,
    client: (index) => clients[index % clients.length] as Client,
    dispose: async () => {
      await Promise.all(clients.map((c) => c.dispose()));
    },
  };
}

/** How one subscription ended: completed by the server, or broken (socket closed, refused, an error). */
type Ending = { kind: 'complete' } | { kind: 'broken'; codes: string[] };

function codesOf(error: unknown): string[] {
  const list = Array.isArray(error) ? error : [error];
  return list.map((e) => String((e as { extensions?: { code?: unknown } } | undefined)?.extensions?.code ?? 'SOCKET'));
}

export interface ResubscribeOptions<T> {
  /** Index of the server to subscribe on first; after each ending, the next one. */
  start: number;
  query: string;
  /** The variables of the next subscription (a position that moved on, say). */
  variables(): Record<string, unknown>;
  onData(data: T): void;
  /** True once the subscriber has what it came for: no further subscription. */
  finished(): boolean;
}

export interface Resubscriber {
  /** Subscriptions made, the first one included. */
  subscriptions(): number;
  /** Error codes other than SHUTTING_DOWN and a closed socket, each time one ended a subscription. */
  unexpected: string[];
  /** Resolves once finished (or stopped). */
  done: Promise<void>;
  stop(): void;
}

/**
 * A subscriber that outlives server restarts: whenever its subscription ends before it has
 * finished (a server stopping completes it, or refuses it with SHUTTING_DOWN, or its socket
 * closes), it subscribes again on the next server with fresh variables. Between failed attempts
 * it backs off, 25 ms doubling to 1 s (a retry pace, not a wait for some state).
 */
export function resubscribe<T>(servers: ServerClients, o: ResubscribeOptions<T>): Resubscriber {
  let count = 0;
  let stopped = false;
  let cancel: (() => void) | undefined;
  const unexpected: string[] = [];
  const once = (client: Client): Promise<{ ending: Ending; gotData: boolean }> =>
    new Promise((resolve) => {
      let gotData = false;
      const unsubscribe = client.subscribe<T>(
        { query: o.query, variables: o.variables() },
        {
          next: (result) => {
            if (result.errors) {
              unsubscribe();
              resolve({ ending: { kind: 'broken', codes: codesOf(result.errors) }, gotData });
              return;
            }
            if (result.data) {
              gotData = true;
              o.onData(result.data as T);
            }
          },
          error: (error) => resolve({ ending: { kind: 'broken', codes: codesOf(error) }, gotData }),
          complete: () => resolve({ ending: { kind: 'complete' }, gotData }),
        },
      );
      cancel = () => {
        unsubscribe();
        resolve({ ending: { kind: 'complete' }, gotData });
      };
    });
  const done = (async () => {
    let failures = 0;
    for (let index = o.start; !stopped && !o.finished(); index++) {
      count += 1;
      const { ending, gotData } = await once(servers.client(index));
      if (ending.kind === 'broken') unexpected.push(...ending.codes.filter((c) => c !== 'SHUTTING_DOWN' && c !== 'SOCKET'));
      failures = gotData ? 0 : failures + 1;
      if (failures > 0 && !stopped && !o.finished()) await delay(Math.min(1000, 25 * 2 ** failures));
    }
  })();
  return {
    subscriptions: () => count,
    unexpected,
    done,
    stop() {
      stopped = true;
      cancel?.();
    },
  };
}
