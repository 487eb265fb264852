import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { ENQUEUE_MUTATION, leaks, plainWsClient, runOverWs, SEED_DOCUMENTS } from '../helpers/reliability-hostile.js';
import { expectCodes, get, post, postNode, type HttpResult } from '../helpers/reliability-http.js';

// Oversized and malformed requests against a real server (buildApp(deps).start(0)): each is
// refused cleanly as the client's mistake, and the next normal request is answered as fast as
// before. (The same traffic against a server process, measuring its memory: hostile-memory.test.ts.)
let server: TestServer;
let ws: Client;
beforeAll(async () => {
  server = await startTestServer();
  ws = plainWsClient(server.wsUrl);
});
afterAll(async () => {
  await ws?.dispose();
  await server?.close();
});

/** POSTs a body as is to the server. */
const send = (body: string | Buffer, headers: Record<string, string> = {}): Promise<HttpResult> => post(server.url, body, headers);

/** A normal request, timed: the server still answers, and promptly. */
async function normalRequestMs(): Promise<number> {
  const started = performance.now();
  const res = await send(JSON.stringify({ query: '{ queueStats { queue total } }' }));
  expect(res.status).toBe(200);
  expect(res.json?.errors).toBeUndefined();
  return performance.now() - started;
}

describe('oversized and malformed requests', () => {
  it('refuses each cleanly and answers the next normal request as fast as before', async () => {
    const usual = Math.max(...(await Promise.all([1, 2, 3, 4, 5].map(() => normalRequestMs()))));
    const rows = await server.countTasks();
    const cases: { name: string; send: () => Promise<HttpResult> }[] = [
      {
        name: 'a 2 MiB body (declared length)',
        send: () => postNode(server.url, JSON.stringify({ query: '{ queueStats { queue } }', variables: { pad: 'x'.repeat(2 * 1024 * 1024) } })),
      },
      {
        name: 'a 2 MiB chunked body',
        send: () => postNode(server.url, `{"query":"{ queueStats { queue } }","pad":"${'x'.repeat(2 * 1024 * 1024)}"}`, { chunked: true }),
      },
      {
        name: '10,000 aliases',
        send: () => send(JSON.stringify({ query: `{ ${Array.from({ length: 10_000 }, (_, i) => `a${i}: queueStats { queue }`).join(' ')} }` })),
      },
      // (Deeper nesting with fewer tokens per level overflows the parser first: see the it.fails below.)
      {
        name: 'nesting 1,000 deep (over the token limit)',
        send: () => send(JSON.stringify({ query: `{ ${'tasks(first: 1, after: "x") { '.repeat(1000)}id${' }'.repeat(1000)} }` })),
      },
      { name: 'nesting 12 deep', send: () => send(JSON.stringify({ query: `{ ${'node(id: "x") { ... on Task { '.repeat(12)}id${' } }'.repeat(12)} }` })) },
      {
        name: 'a fragment that multiplies',
        send: () =>
          send(
            JSON.stringify({
              query: `query { ...F0 } ${Array.from({ length: 12 }, (_, i) => `fragment F${i} on Query { ${i === 11 ? 'queueStats { queue }' : `a: queueStats { queue } ...F${i + 1} ...F${i + 1}`} }`).join(' ')}`,
            }),
          ),
      },
      {
        name: 'huge variables (a 900 KB args array)',
        send: () => send(JSON.stringify({ query: ENQUEUE_MUTATION, variables: { input: { name: 'demo.echo', args: Array.from({ length: 180_000 }, (_, i) => i % 10) } } })),
      },
      {
        name: 'variables nested 100,000 deep',
        send: () => send(`{"query":${JSON.stringify(ENQUEUE_MUTATION)},"variables":{"input":{"name":"demo.echo","args":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}}}`),
      },
      { name: 'invalid UTF-8', send: () => send(Buffer.concat([Buffer.from('{"query":"{ queueStats { queue } }","x":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}')])) },
      { name: 'invalid UTF-8 inside the query', send: () => send(Buffer.concat([Buffer.from('{"query":"{ queueStats { queue '), Buffer.from([0xc0, 0xaf, 0xff]), Buffer.from(' } }"}')])) },
      { name: 'not JSON', send: () => send('{"query": "{ queueStats { queue } }"') },
      { name: 'a JSON array (batch)', send: () => send(JSON.stringify([{ query: '{ queueStats { queue } }' }, { query: '{ queueStats { queue } }' }])) },
      { name: 'a JSON string', send: () => send('"query"') },
      { name: 'query is a number', send: () => send(JSON.stringify({ query: 42 })) },
      { name: 'variables is a string', send: () => send(JSON.stringify({ query: ENQUEUE_MUTATION, variables: 'input' })) },
      { name: 'a wrong content type', send: () => send('query=%7B%7D', { 'content-type': 'application/x-www-form-urlencoded' }) },
      { name: 'a 64 KB query string on GET', send: () => get(server.url, `?query=${encodeURIComponent(`{ ${'queueStats { queue } '.repeat(3000)} }`)}`) },
    ];
    const report: string[] = [];
    for (const c of cases) {
      const res = await c.send();
      // Every case gets a readable answer, the oversized bodies too: the server reads the rest of
      // a refused upload before it closes (src/server/http.ts), so the client is not cut off.
      expect(res.status, c.name).toBeGreaterThanOrEqual(200);
      expect(res.status, c.name).toBeLessThan(500);
      expect(leaks(res.text, ''), c.name).toEqual([]);
      expectCodes(res.json?.errors);
      // Each of these is refused as the client's mistake (an HTTP 4xx or a coded error), never data.
      expect(res.status >= 400 || (res.json?.errors?.length ?? 0) > 0, `${c.name}: ${res.status} ${res.text.slice(0, 200)}`).toBe(true);
      const next = await normalRequestMs();
      expect(next, `${c.name}: the next normal request took ${next} ms (usual ${usual})`).toBeLessThan(Math.max(10 * usual, 1000));
      report.push(`${c.name} → ${res.status} ${String(res.json?.errors?.[0]?.extensions?.code ?? '')}`.trim());
    }
    expect(await server.countTasks()).toBe(rows);
    console.log(`[hostile] refused: ${report.join('; ')}`);
  });

  // graphql-js parses recursively: a document nested ~2,400 deep overflows the stack while still
  // under the 5,000-token limit. useParseErrorCodes (src/graphql/limits.ts) turns that into a parse error.
  const deep = `{ ${'a { '.repeat(2400)}id${' }'.repeat(2400)} }`;
  it('refuses a document nested 2,400 deep (under the token limit) as a parse error over HTTP', async () => {
    const res = await send(JSON.stringify({ query: deep }));
    expect(res.status).toBe(400);
    expect(res.json?.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
  });
  it('refuses a document nested 2,400 deep as a parse error over graphql-ws, keeping the socket', async () => {
    const client = plainWsClient(server.wsUrl);
    try {
      const outcome = await runOverWs(client, deep, {});
      expect(outcome.transport).toBeUndefined();
      expect(outcome.texts.join()).toContain('GRAPHQL_PARSE_FAILED');
    } finally {
      await client.dispose();
    }
  });

  it('closes a graphql-ws socket whose message is over the size limit, and keeps serving others', async () => {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
    expect(await closed).toBe(1009); // Message Too Big
    const outcome = await runOverWs(ws, '{ queueStats { queue } }', {});
    expect(outcome).toMatchObject({ end: 'complete', errored: false });
  });
});
