import type { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  ForbiddenError,
  RateLimitedError,
  UnauthenticatedError,
  type ClientOptions,
  type TaskEvent,
  type TaskwireClient,
} from '../../src/client/index.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';
import { drain } from '../helpers/drain.js';

/**
 * The client's side of credentials, against a server whose graphql-ws `onConnect` the test
 * decides (AppOptions.wsHooks): what getToken() gives reaches the socket and every request, a
 * 4403 close is followed by a fresh token and a resume by version, refusals end in
 * UnauthenticatedError, and a failing getToken() is not retried. test/client/auth.test.ts runs
 * the same against the server's own authentication.
 */

const RETRY = { attempts: 10, baseMs: 100, maxMs: 1000 };

let server: TestServer;
let gates: Gates;
const clients: TaskwireClient[] = [];
/** Each connection_init's `authorization`, in order. */
const connects: (string | undefined)[] = [];
/** Sockets let in, newest last. */
const accepted: WebSocket[] = [];
/** Authorization values onConnect refuses (close 4403); `throttle` refuses everything with 4429. */
const refused = new Set<string>();
let throttle = false;

function client(options: Partial<ClientOptions> = {}): TaskwireClient {
  const made = createClient({ url: server.url, retry: RETRY, ...options });
  clients.push(made);
  return made;
}

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({
    tasks: gates.tasks,
    runner: {},
    app: {
      wsHooks: {
        onConnect: ({ connectionParams, socket }) => {
          const authorization = typeof connectionParams?.authorization === 'string' ? connectionParams.authorization : undefined;
          connects.push(authorization);
          if (throttle) return { code: 4429, reason: 'Too many attempts' };
          if (authorization !== undefined && refused.has(authorization)) return false;
          accepted.push(socket);
          return true;
        },
      },
    },
  });
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.close();
});

describe('getToken over HTTP', () => {
  it('sends Authorization: Bearer <token> on every request, asked each time, replacing a static one', async () => {
    const seen: (string | null)[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      seen.push(new Headers(init?.headers).get('authorization'));
      return fetch(input, init);
    };
    let n = 0;
    const c = client({ fetch: recordingFetch, headers: { Authorization: 'Bearer static', 'x-extra': '1' }, getToken: () => `token-${++n}` });
    await c.queueStats();
    await c.queueStats();
    expect(seen).toEqual(['Bearer token-1', 'Bearer token-2']);

    const fixed = client({ fetch: recordingFetch, headers: { Authorization: 'Bearer static' } });
    await fixed.queueStats();
    expect(seen.at(-1)).toBe('Bearer static');
    const none = client({ fetch: recordingFetch, getToken: () => undefined });
    await none.queueStats();
    expect(seen.at(-1)).toBeNull();
  });

  it('types an auth answer without a GraphQL body by its status (a proxy or gateway in front), with Retry-After', async () => {
    const answering = (status: number, headers: Record<string, string> = {}): typeof fetch => async () => new Response('<html>no</html>', { status, headers });
    await expect(client({ fetch: answering(401) }).queueStats()).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(client({ fetch: answering(403) }).queueStats()).rejects.toBeInstanceOf(ForbiddenError);
    const limited = client({ fetch: answering(429, { 'retry-after': '2' }) }).queueStats();
    await expect(limited).rejects.toBeInstanceOf(RateLimitedError);
    await expect(limited).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 2000, status: 429 });
    // Any other status without a GraphQL body is still a wrong endpoint.
    await expect(client({ fetch: answering(404) }).queueStats()).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
    // Another GraphQL server (or another version) answers in GraphQL, but its errors carry no code.
    const foreign: typeof fetch = async () => Response.json({ errors: [{ message: 'Cannot query field "queueStats" on type "Query".' }] });
    await expect(client({ fetch: foreign }).queueStats()).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringContaining('Cannot query field "queueStats"') });
  });
});

describe('getToken over graphql-ws', () => {
  it('sends the token at connect; after a 4403 close asks again, reconnects and resumes: every event once', async () => {
    const task = await client().enqueue('test.steps', ['renew', 1]);
    let n = 0;
    // The renewal waits until the closed socket's subscription has ended on the server: one still
    // ending could take an event first (counted delivered, never sent), and "each event once" below
    // would count it twice.
    let oldSubscriptionEnded!: () => void;
    const renewal = new Promise<void>((resolve) => (oldSubscriptionEnded = resolve));
    const c = client({
      getToken: async () => {
        n += 1;
        if (n === 2) await renewal;
        return `renew-${n}`;
      },
    });
    const stats = server.app.logStats;
    const deliveredBefore = stats.delivered;
    const from = connects.length;
    const events = drain<TaskEvent>(c.events(task.id));
    await waitFor(() => stats.subscriptions === 1 && events.seen.some((e) => e.type === 'STARTED'), { message: 'the stream live' });
    expect(connects.slice(from)).toEqual(['Bearer renew-1']);

    // The credential "expires": the server ends the socket, and the task moves on meanwhile.
    accepted.at(-1)?.close(4403, 'Forbidden');
    await waitFor(() => stats.subscriptions === 0, { message: 'the closed socket\'s subscription ended' });
    oldSubscriptionEnded();
    gates.open('renew:1');
    await waitFor(() => events.seen.some((e) => e.type === 'PROGRESS'), { message: 'the progress made while the socket was closed' });
    gates.open('renew:done');
    await events.done;

    expect(connects.slice(from)).toEqual(['Bearer renew-1', 'Bearer renew-2']);
    expect(events.seen.map((e) => [e.version, e.type])).toEqual([
      [1, 'ENQUEUED'],
      [2, 'STARTED'],
      [3, 'PROGRESS'],
      [4, 'SUCCEEDED'],
    ]);
    // The renewed subscription asked for what follows version 2: each event sent once.
    expect(stats.delivered - deliveredBefore).toBe(4);
  });

  it('gives up with UnauthenticatedError after three refusals of the same token, backing off between them', async () => {
    const task = await client().enqueue('math.copysign', [1, 1]);
    refused.add('Bearer revoked');
    const asked: number[] = [];
    const c = client({
      getToken: () => {
        asked.push(Date.now());
        return 'revoked';
      },
    });
    const events = drain<TaskEvent>(c.events(task.id));
    await expect(events.done).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(events.done).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(events.seen).toEqual([]);
    expect(asked.length).toBe(3);
    for (let i = 1; i < asked.length; i++) expect(asked[i]! - asked[i - 1]!).toBeGreaterThanOrEqual(RETRY.baseMs / 2);
  });

  it('gives up also when a socket is let in on the refused token and closed again (a server checking late)', async () => {
    const task = await client().enqueue('test.gate', ['late']);
    const asked: number[] = [];
    const c = client({
      getToken: () => {
        asked.push(Date.now());
        return 'late-check';
      },
    });
    const events = drain<TaskEvent>(c.events(task.id));
    // Each socket is let in and at once ended with 4403, as many times as the client comes back.
    const closer = setInterval(() => {
      for (const socket of accepted.splice(0)) socket.close(4403, 'Forbidden');
    }, 10);
    try {
      await expect(events.done).rejects.toBeInstanceOf(UnauthenticatedError);
    } finally {
      clearInterval(closer);
      gates.open('late');
    }
    expect(asked.length).toBe(3);
  });

  it('throws what getToken() throws, without retrying', async () => {
    const task = await client().enqueue('math.copysign', [1, 1]);
    const failure = new Error('the identity provider is down');
    let asked = 0;
    const c = client({
      getToken: () => {
        asked += 1;
        throw failure;
      },
    });
    await expect(drain(c.events(task.id)).done).rejects.toBe(failure);
    expect(asked).toBe(1);
  });

  it('turns a 4429 close (throttled) into RateLimitedError', async () => {
    const task = await client().enqueue('math.copysign', [1, 1]);
    throttle = true;
    try {
      await expect(drain(client().events(task.id)).done).rejects.toBeInstanceOf(RateLimitedError);
    } finally {
      throttle = false;
    }
  });
});
