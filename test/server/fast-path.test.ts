import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFastPath } from '../../src/server/fast-path.js';
import { canonicalContentType, withBodyLimit } from '../../src/server/http.js';
import { createOriginPolicy } from '../../src/server/origins.js';
import { createServerAuth } from '../../src/server/server-auth.js';
import { AUTH_ENV, createTestKey, signTestJwt } from '../helpers/auth-credentials.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

// The fast path (src/server/fast-path.ts) answers the common GraphQL POST without yoga's Fetch
// adapter. Every answer must be the one yoga gives: each request below goes once through the
// server's socket (the fast path where it applies) and once through `yoga.fetch` (yoga's whole
// pipeline, no socket), and status, the headers that carry meaning and the body must agree. A
// second listener counts which requests the fast path took, so the comparison is known to
// compare the fast path where it should, and yoga where it should not.

interface Case {
  name: string;
  body: unknown;
  headers?: Record<string, string>;
  /** Whether the fast path takes it (default true). */
  fast?: boolean;
}

const ENQUEUE = 'mutation E($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id name status version } readToken } }';
const GRAPHQL_RESPONSE = { accept: 'application/graphql-response+json' };

function cases(): Case[] {
  return [
    { name: '{__typename}, graphql-response+json', body: { query: '{ __typename }' }, headers: GRAPHQL_RESPONSE },
    { name: '{__typename}, application/json', body: { query: '{ __typename }' }, headers: { accept: 'application/json' } },
    { name: '{__typename}, */*', body: { query: '{ __typename }' }, headers: { accept: '*/*' } },
    { name: '{__typename}, no Accept', body: { query: '{ __typename }' } },
    { name: 'enqueueTask', body: { query: ENQUEUE, variables: { input: { name: 'math.copysign', args: [1, -1] } } }, headers: GRAPHQL_RESPONSE },
    { name: 'UNKNOWN_TASK', body: { query: ENQUEUE, variables: { input: { name: 'no.such.task' } } }, headers: GRAPHQL_RESPONSE },
    { name: 'UNKNOWN_TASK, application/json', body: { query: ENQUEUE, variables: { input: { name: 'no.such.task' } } }, headers: { accept: 'application/json' } },
    { name: 'INVALID_ARGUMENTS', body: { query: ENQUEUE, variables: { input: { name: 'math.copysign', args: ['a'] } } }, headers: GRAPHQL_RESPONSE },
    { name: 'variables missing', body: { query: ENQUEUE }, headers: GRAPHQL_RESPONSE },
    { name: 'variables missing, application/json', body: { query: ENQUEUE, variables: null }, headers: { accept: 'application/json' } },
    { name: 'syntax error', body: { query: '{ __typename ' }, headers: GRAPHQL_RESPONSE },
    { name: 'unknown field', body: { query: '{ nope }' }, headers: GRAPHQL_RESPONSE },
    { name: 'too deep', body: { query: `{ taskResult(id: "0193c1a2-0000-7000-8000-000000000000") { ${'events { edges { node { task { '.repeat(3)} id ${'} } } } '.repeat(3)} } }` }, headers: GRAPHQL_RESPONSE },
    { name: 'too many aliases', body: { query: `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: __typename`).join(' ')} }` }, headers: GRAPHQL_RESPONSE },
    { name: 'malformed id', body: { query: '{ taskResult(id: "nope") { id } }' }, headers: GRAPHQL_RESPONSE },
    { name: 'unknown operationName', body: { query: 'query A { __typename }', operationName: 'B' }, headers: GRAPHQL_RESPONSE },
    { name: 'two operations, no name', body: { query: 'query A { __typename } query B { __typename }' }, headers: GRAPHQL_RESPONSE },
    // Subscriptions go to yoga whatever the Accept: under */* or none yoga streams them (SSE).
    { name: 'subscription over JSON', body: { query: 'subscription { taskStatusChanged { id } }' }, headers: GRAPHQL_RESPONSE, fast: false },
    { name: 'subscription, application/json', body: { query: 'subscription { taskStatusChanged { id } }' }, headers: { accept: 'application/json' }, fast: false },
    { name: 'a query naming "subscription"', body: { query: 'query subscription { __typename }' }, headers: GRAPHQL_RESPONSE, fast: false },
    // RFC 9110: the type is case-insensitive and a space may come before `;` (read as application/json).
    { name: 'Application/JSON', body: { query: '{ __typename }' }, headers: { ...GRAPHQL_RESPONSE, 'content-type': 'Application/JSON' } },
    { name: 'a space before the charset', body: { query: '{ __typename }' }, headers: { ...GRAPHQL_RESPONSE, 'content-type': 'application/json ; charset=utf-8' } },
    { name: 'APPLICATION/JSON; Charset=UTF-8', body: { query: '{ __typename }' }, headers: { ...GRAPHQL_RESPONSE, 'content-type': 'APPLICATION/JSON; Charset=UTF-8' } },
    { name: 'application/json; charset=UTF-8', body: { query: '{ __typename }' }, headers: { ...GRAPHQL_RESPONSE, 'content-type': 'application/json; charset=UTF-8' } },
    { name: 'Accept: application/xml', body: { query: '{ __typename }' }, headers: { accept: 'application/xml' }, fast: false },
    { name: 'an Origin', body: { query: '{ __typename }' }, headers: { ...GRAPHQL_RESPONSE, origin: 'https://evil.example' }, fast: false },
    { name: 'a batch', body: [{ query: '{ __typename }' }], headers: GRAPHQL_RESPONSE, fast: false },
    { name: 'extensions', body: { query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } } }, headers: GRAPHQL_RESPONSE, fast: false },
    { name: 'an unknown parameter', body: { query: '{ __typename }', nope: 1 }, headers: GRAPHQL_RESPONSE, fast: false },
    { name: 'query not a string', body: { query: 1 }, headers: GRAPHQL_RESPONSE, fast: false },
    { name: 'not JSON', body: '{"query": ', headers: GRAPHQL_RESPONSE, fast: false },
    { name: 'not UTF-8', body: Buffer.from([...Buffer.from('{"query": "{ __typename }", "variables": {"a": "'), 0xff, 0xfe, ...Buffer.from('"}}')]), headers: GRAPHQL_RESPONSE, fast: false },
    { name: 'text/plain without the CSRF header', body: { query: '{ __typename }' }, headers: { ...GRAPHQL_RESPONSE, 'content-type': 'text/plain' }, fast: false },
    { name: 'SSE', body: { query: '{ __typename }' }, headers: { accept: 'text/event-stream' }, fast: false },
  ];
}

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  body: unknown;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Status, the headers that mean something, and the body with what differs per call (ids, tokens, waits) replaced. */
async function answerOf(response: Response): Promise<Answer> {
  const text = (await response.text()).replace(UUID, '<uuid>').replace(/"readToken":"[^"]+"/g, '"readToken":"<token>"').replace(/"retryAfterMs":\d+/g, '"retryAfterMs":"<ms>"');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: compared as text
  }
  const header = (name: string): string | null => response.headers.get(name);
  return {
    status: response.status,
    headers: {
      'content-type': header('content-type'),
      vary: header('vary'),
      'www-authenticate': header('www-authenticate'),
      'retry-after': header('retry-after') === null ? null : '<s>',
      'access-control-allow-origin': header('access-control-allow-origin'),
    },
    body,
  };
}

function codeOf(answer: Answer): unknown {
  return (answer.body as { errors?: { extensions?: { code?: unknown } }[] }).errors?.[0]?.extensions?.code;
}

function init(c: Case, authorization?: string): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}), ...c.headers },
    body: typeof c.body === 'string' ? c.body : Buffer.isBuffer(c.body) ? new Uint8Array(c.body) : JSON.stringify(c.body),
  };
}

/** A second listener on the same yoga whose fast path counts what it serves. */
async function countingListener(server: TestServer): Promise<{ url: string; served: () => number; close(): Promise<void> }> {
  const auth = createServerAuth(server.deps);
  const fast = createFastPath({
    yoga: server.app.yoga,
    path: '/graphql',
    origins: createOriginPolicy({ allowed: [], authOn: auth.on }),
    authenticate: auth.httpPrincipal,
    log: server.deps.log,
  });
  let served = 0;
  const listener: Server = createServer(
    withBodyLimit(server.app.yoga, 1_048_576, {
      fast: (req, res, body) => {
        const taken = fast.serve(req, res, body);
        if (taken) served += 1;
        return taken;
      },
    }),
  );
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(listener.address() as AddressInfo).port}/graphql`,
    served: () => served,
    async close() {
      listener.closeAllConnections();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      auth.close();
    },
  };
}

/** Each case through the socket and through yoga.fetch: the same answer; the fast path took exactly the cases marked so. */
async function compareAll(server: TestServer, authorization?: string): Promise<void> {
  const counting = await countingListener(server);
  try {
    for (const c of cases()) {
      const fast = await answerOf(await fetch(server.url, init(c, authorization)));
      // The socket's listener (withBodyLimit) hands yoga the Content-Type in canonical form.
      const sent = init(c, authorization);
      const headers = sent.headers as Record<string, string>;
      const yoga = await answerOf(await server.app.yoga.fetch('http://127.0.0.1/graphql', { ...sent, headers: { ...headers, 'content-type': canonicalContentType(headers['content-type']!) } }));
      expect(fast, c.name).toEqual(yoga);
      expect(fast.status, c.name).not.toBe(500);
      const before = counting.served();
      await (await fetch(counting.url, init(c, authorization))).text();
      expect(counting.served() - before, `${c.name}: taken by the fast path`).toBe(c.fast === false ? 0 : 1);
    }
  } finally {
    await counting.close();
  }
}

describe('the GraphQL fast path, auth off', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers every request as yoga does, and takes only the plain ones', async () => {
    await compareAll(server);
  });

  it('leaves a subscription to yoga under every Accept: the socket answers it with yoga\'s status, content type and body', async () => {
    const id = await server.enqueue('math.copysign', [1, -1]);
    const cancelled = await server.post({ query: 'mutation($id: ID!) { cancelTask(id: $id) { status } }', variables: { id } });
    expect(cancelled.data).toEqual({ cancelTask: { status: 'CANCELLED' } });
    // A finished task: one state, then the stream completes, so a streamed answer can be read whole.
    const watch: Case = { name: 'watch', body: { query: 'subscription($id: ID!) { taskStatusChanged(id: $id) { id status } }', variables: { id } } };
    const expected: Record<string, [number, string]> = {
      none: [200, 'text/event-stream'],
      '*/*': [200, 'text/event-stream'],
      'text/*': [200, 'text/event-stream'],
      'text/event-stream': [200, 'text/event-stream'],
      'application/json, */*': [200, 'text/event-stream'],
      'application/json': [406, 'application/json; charset=utf-8'],
      'application/graphql-response+json': [406, 'application/json; charset=utf-8'],
    };
    const counting = await countingListener(server);
    try {
      for (const [accept, [status, type]] of Object.entries(expected)) {
        const c: Case = { ...watch, headers: accept === 'none' ? {} : { accept } };
        // Comment lines are yoga's keep-alive pings, sent by the clock.
        const read = async (response: Response): Promise<Answer> => {
          const answer = await answerOf(response);
          return typeof answer.body === 'string' ? { ...answer, body: answer.body.replace(/^:\n\n/gm, '') } : answer;
        };
        const fast = await read(await fetch(server.url, init(c)));
        const yoga = await read(await server.app.yoga.fetch('http://127.0.0.1/graphql', init(c)));
        expect(fast, accept).toEqual(yoga);
        expect([fast.status, fast.headers['content-type']], accept).toEqual([status, type]);
        if (status === 406) expect(codeOf(fast), accept).toBe('BAD_REQUEST');
        else expect(fast.body, accept).toMatch(/^event: next\ndata: .*"status":"CANCELLED".*\n\nevent: complete\n/s);
        const before = counting.served();
        await (await fetch(counting.url, init(c))).text();
        expect(counting.served() - before, `${accept}: taken by the fast path`).toBe(0);
      }
    } finally {
      await counting.close();
    }
  });

  it('stores one task per enqueueTask it answers', async () => {
    const before = await server.countTasks();
    const ok = await answerOf(await fetch(server.url, init(cases()[4] as Case)));
    expect(ok.status).toBe(200);
    const refused = await answerOf(await fetch(server.url, init(cases()[5] as Case)));
    expect(codeOf(refused)).toBe('UNKNOWN_TASK');
    expect(await server.countTasks()).toBe(before + 1);
  });

  it('refuses a Host that is not a loopback name (through yoga: 403)', async () => {
    // fetch cannot set Host (a forbidden header name): node:http can.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(server.url, { method: 'POST', headers: { 'content-type': 'application/json', host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ query: '{ __typename }' }));
    });
    expect(status).toBe(403);
  });
});

describe('the GraphQL fast path, auth on', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ...AUTH_ENV, ENQUEUE_RATE_PER_S: '1000' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers as yoga does with an API key, a JWT, a refused credential and none', async () => {
    const key = await createTestKey(server.sql, 'acme');
    await compareAll(server, `Bearer ${key.key}`);
    await compareAll(server, `Bearer ${await signTestJwt()}`);
    await compareAll(server, `Bearer ${await signTestJwt({ scope: 'tasks:read' })}`);
    const refused = await answerOf(await fetch(server.url, init(cases()[0] as Case, 'Bearer tw_nope')));
    expect(refused.status).toBe(401);
    expect(codeOf(refused)).toBe('UNAUTHENTICATED');
    expect(refused).toEqual(await answerOf(await server.app.yoga.fetch('http://127.0.0.1/graphql', init(cases()[0] as Case, 'Bearer tw_nope'))));
    const none = await answerOf(await fetch(server.url, init(cases()[4] as Case)));
    expect(none).toEqual(await answerOf(await server.app.yoga.fetch('http://127.0.0.1/graphql', init(cases()[4] as Case))));
    expect(none.status).toBe(401);
  });

  it('answers RATE_LIMITED as yoga does, and runs the enqueue as its principal', async () => {
    const limited = await startTestServer({ env: { ...AUTH_ENV, ENQUEUE_RATE_PER_S: '1' } });
    try {
      const jwt = `Bearer ${await signTestJwt({ tenant: 'limited' })}`;
      const first = await answerOf(await fetch(limited.url, init(cases()[4] as Case, jwt)));
      expect(first.status).toBe(200);
      const [[tenant]] = (await limited.sql`SELECT tenant FROM tasks`.values()) as unknown as [[string]];
      expect(tenant).toBe('limited');
      // Spend the bucket (1/s, burst 2), then both paths are over the rate — unless a token came
      // back in between on a slow machine: then again.
      let compared = false;
      for (let attempt = 0; attempt < 20 && !compared; attempt++) {
        while (codeOf(await answerOf(await fetch(limited.url, init(cases()[4] as Case, jwt)))) !== 'RATE_LIMITED');
        const fast = await answerOf(await fetch(limited.url, init(cases()[4] as Case, jwt)));
        const yoga = await answerOf(await limited.app.yoga.fetch('http://127.0.0.1/graphql', init(cases()[4] as Case, jwt)));
        if (codeOf(fast) !== 'RATE_LIMITED' || codeOf(yoga) !== 'RATE_LIMITED') continue;
        expect(fast).toEqual(yoga);
        compared = true;
      }
      expect(compared).toBe(true);
    } finally {
      await limited.close();
    }
  });
});
