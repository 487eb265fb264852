import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/auth/api-keys.js';
import { createClient, UnauthenticatedError, type ClientOptions, type Task, type TaskwireClient } from '../../src/client/index.js';
import { tokenExpiresAt } from '../../src/client/ws.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { AUTH_ENV, signTestJwt } from '../helpers/auth-credentials.js';

/**
 * A static token that expires during a watch (docs/client.md#read-tokens): the server closes the
 * socket with 4403, and the client does not reconnect with the token it can tell has expired: the
 * watch ends with UnauthenticatedError saying so. Against a real server with AUTH_MODE=on and a
 * failed-authentication throttle of 3, so that browsers whose tokens expire never lock out the
 * backend that shares their address.
 */

const RETRY = { attempts: 10, baseMs: 100, maxMs: 1000 };

let server: TestServer;
let apiKey: string;
const clients: TaskwireClient[] = [];

function client(options: Partial<ClientOptions> = {}): TaskwireClient {
  const made = createClient({ url: server.url, retry: RETRY, ...options });
  clients.push(made);
  return made;
}

/** A WebSocket class recording the `authorization` of every connection_init the client sends. */
function recordingInits(): { inits: (string | undefined)[]; webSocketImpl: unknown } {
  const inits: (string | undefined)[] = [];
  class RecordingWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols);
      const send = this.send.bind(this) as (...args: unknown[]) => void;
      this.send = ((data: unknown, ...rest: unknown[]) => {
        const message = JSON.parse(String(data)) as { type?: string; payload?: { authorization?: string } };
        if (message.type === 'connection_init') inits.push(message.payload?.authorization);
        send(data, ...rest);
      }) as WebSocket['send'];
    }
  }
  return { inits, webSocketImpl: RecordingWebSocket };
}

/** How `iterable` ends: the error it throws (undefined when it completes). */
async function endOf<T>(iterable: AsyncIterable<T>): Promise<unknown> {
  try {
    for await (const _ of iterable);
    return undefined;
  } catch (error) {
    return error;
  }
}

beforeAll(async () => {
  server = await startTestServer({ env: { ...AUTH_ENV }, app: { auth: { failedAuth: { maxFailures: 3, windowMs: 60_000 } } } });
  apiKey = (await createApiKey(server.sql, { tenant: 'acme', scopes: ['tasks:read', 'tasks:enqueue'] })).key;
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.close();
});

describe('tokenExpiresAt', () => {
  it('reads the exp of a JWT or read token (with or without Bearer), nothing of an API key or garbage', async () => {
    const jwt = await signTestJwt({ expiresIn: 60 });
    const exp = (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;
    expect(tokenExpiresAt(`Bearer ${jwt}`)).toBe(exp);
    expect(tokenExpiresAt(jwt)).toBe(exp);
    const backend = client({ getToken: () => apiKey });
    const task = await backend.enqueue('demo.echo', ['exp']);
    const { token, expiresAt } = await backend.createReadToken(task.id, { ttlSeconds: 60 });
    expect(tokenExpiresAt(`Bearer ${token}`)).toBe(Date.parse(expiresAt));
    for (const other of [undefined, '', `Bearer ${apiKey}`, 'Bearer a.b.c', 'Bearer a.%%%.c', `Bearer ${Buffer.from('{"exp":"soon"}').toString('base64url')}.x.y`]) {
      expect(tokenExpiresAt(other)).toBeUndefined();
    }
  });
});

describe('a static read token that expires during a watch', () => {
  it('ends the stream with UnauthenticatedError saying it expired, without sending the expired token again', async () => {
    const backend = client({ getToken: () => apiKey });
    // No runner: the task stays PENDING, the watch stays open until the token expires.
    const task = await backend.enqueue('demo.echo', ['long']);
    const { token } = await backend.createReadToken(task.id, { ttlSeconds: 3 });
    const { inits, webSocketImpl } = recordingInits();
    const browser = client({ getToken: () => token, webSocketImpl });
    // events(): graphql-ws from the start (watch() reads the row over HTTP first).
    const error = await endOf(browser.events(task.id));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect((error as UnauthenticatedError).code).toBe('UNAUTHENTICATED');
    expect((error as Error).message).toMatch(/expired/);
    // The one connection_init that opened the socket; none after the 4403.
    expect(inits).toEqual([`Bearer ${token}`]);
  });

  it('six browsers with their own tokens, all expiring: none is throttled, nor is the backend at their address', async () => {
    const backend = client({ getToken: () => apiKey });
    const task = await backend.enqueue('demo.echo', ['six']);
    const tokens = await Promise.all(Array.from({ length: 6 }, () => backend.createReadToken(task.id, { ttlSeconds: 2 })));
    const browsers = tokens.map(({ token }) => client({ getToken: () => token }));
    const ends = await Promise.all(browsers.map((b) => endOf(b.watch(task.id))));
    for (const end of ends) expect(end).toBeInstanceOf(UnauthenticatedError);
    // The backend's API key, from the same address: served.
    expect(await backend.get(task.id)).toMatchObject({ id: task.id, status: 'PENDING' });
    // And a browser with a fresh token watches (its first state comes, then it is let go).
    const fresh = await backend.createReadToken(task.id, { ttlSeconds: 60 });
    const watcher = client({ getToken: () => fresh.token });
    const first = await (async (): Promise<Task | undefined> => {
      for await (const state of watcher.watch(task.id)) return state;
      return undefined;
    })();
    expect(first).toMatchObject({ id: task.id });
  });
});
