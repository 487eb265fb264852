import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leanHttpClient, type LeanHttpClient } from '../../bench/lib/lean-http.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

// The bench's lean HTTP client (e) must be a whole client: every response parsed and checked,
// errors thrown as the fetch client throws them. Against the real server, and against raw sockets
// that answer in every shape HTTP/1.1 allows (split anywhere, chunked, Connection: close).

const ENQUEUE = 'mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id name status } } }';

describe('leanHttpClient against the server', () => {
  let server: TestServer;
  const clients: LeanHttpClient[] = [];
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  it('sends queries and mutations with variables, one after another', async () => {
    const client = leanHttpClient(server.url);
    clients.push(client);
    for (let i = 0; i < 50; i++) expect(await client.request('{ __typename }')).toEqual({ __typename: 'Query' });
    const data = await client.request<{ enqueueTask: { task: { id: string; name: string; status: string } } }>(ENQUEUE, {
      input: { name: 'math.copysign', args: [1, -1] },
    });
    expect(data.enqueueTask.task).toMatchObject({ name: 'math.copysign', status: 'PENDING' });
    expect(await server.deps.queue.getTask(data.enqueueTask.task.id)).toMatchObject({ args: [1, -1] });
  });

  it('throws GraphQL errors as the fetch client does, and goes on after them', async () => {
    const client = leanHttpClient(server.url);
    clients.push(client);
    await expect(client.request(ENQUEUE, { input: { name: 'math.copysign', args: ['x'] } })).rejects.toThrow(/GraphQL 200: .*INVALID_ARGUMENTS/);
    await expect(client.request('{ nope }')).rejects.toThrow(/GraphQL 400: .*GRAPHQL_VALIDATION_FAILED/);
    expect(await client.request('{ __typename }')).toEqual({ __typename: 'Query' });
  });
});

/** A raw TCP server whose answer to each request is `respond(requestText)`, written in pieces of `pieces` bytes. */
async function rawServer(respond: (request: string) => string | Buffer, pieces = 0): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const tcp: TcpServer = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      const headEnd = buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, headEnd))?.[1] ?? 0);
      if (buffered.length < headEnd + 4 + length) return;
      const request = buffered.slice(0, headEnd + 4 + length);
      buffered = buffered.slice(headEnd + 4 + length);
      const answer = Buffer.from(respond(request));
      if (pieces <= 0) return void socket.write(answer);
      for (let at = 0; at < answer.length; at += pieces) socket.write(answer.subarray(at, at + pieces));
    });
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const { port } = tcp.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        tcp.close(() => resolve());
      }),
  };
}

const json = (body: string, extra = ''): string =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe('leanHttpClient, the HTTP/1.1 it reads', () => {
  it('reads responses split into 1-byte writes, chunked bodies, and multi-byte UTF-8', async () => {
    let n = 0;
    const server = await rawServer(() => {
      n++;
      const body = JSON.stringify({ data: { n, text: 'héllo ✓' } });
      if (n % 2 === 0) return json(body);
      const half = Math.floor(body.length / 2);
      const [a, b] = [Buffer.from(body.slice(0, half)), Buffer.from(body.slice(half))];
      return `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${a.length.toString(16)}\r\n${a}\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`;
    }, 1);
    const client = leanHttpClient(server.url);
    try {
      for (let i = 1; i <= 4; i++) expect(await client.request('{ x }')).toEqual({ n: i, text: 'héllo ✓' });
      expect(server.connections()).toBe(1);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('sends the request line, headers and body a server expects', async () => {
    const seen: string[] = [];
    const server = await rawServer((request) => {
      seen.push(request);
      return json('{"data":{"ok":true}}');
    });
    const client = leanHttpClient(server.url);
    try {
      await client.request('query Q($a: Int) { a(x: $a) }', { a: 'ü' }, 'Bearer k');
      const [head, body] = (seen[0] as string).split('\r\n\r\n') as [string, string];
      const lines = head.split('\r\n');
      expect(lines[0]).toBe('POST /graphql HTTP/1.1');
      expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^Host: 127\.0\.0\.1:\d+$/), 'Content-Type: application/json', 'Authorization: Bearer k']));
      const length = Number(lines.find((l) => l.startsWith('Content-Length: '))?.slice(16));
      expect(length).toBe(Buffer.byteLength(Buffer.from(body, 'latin1').toString('utf8')));
      expect(JSON.parse(Buffer.from(body, 'latin1').toString('utf8'))).toEqual({ query: 'query Q($a: Int) { a(x: $a) }', variables: { a: 'ü' } });
    } finally {
      client.close();
      await server.close();
    }
  });

  it('opens a new connection after Connection: close', async () => {
    const server = await rawServer(() => json('{"data":{"ok":1}}', 'Connection: close\r\n'));
    const client = leanHttpClient(server.url);
    try {
      for (let i = 0; i < 3; i++) expect(await client.request('{ ok }')).toEqual({ ok: 1 });
      expect(server.connections()).toBe(3);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('refuses a bad status line, a status other than 200, a body that is not UTF-8 or not JSON, a missing length, and malformed chunks', async () => {
    const answers = [
      'HTTX/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}',
      json('{"errors":[{"message":"no"}]}').replace('200 OK', '500 Internal Server Error'),
      // A body of three bytes that are not UTF-8.
      Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n'), Buffer.from([0xff, 0xfe, 0xfd])]),
      json('{"data":'),
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}',
      json('{"data":null}'),
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}X\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    ];
    let k = 0;
    const server = await rawServer(() => answers[k++] as string | Buffer);
    try {
      const expected = [/bad status line/, /GraphQL 500: .*no/, /not UTF-8/, /not JSON/, /neither Content-Length nor chunked/, /GraphQL 200: \{"data":null\}/, /chunk not followed by CRLF/, /bad chunk size/];
      for (const pattern of expected) {
        // A fresh client each time: a refused response leaves its connection closed.
        const client = leanHttpClient(server.url);
        await expect(client.request('{ x }')).rejects.toThrow(pattern);
        client.close();
      }
    } finally {
      await server.close();
    }
  });

  it('rejects a request whose connection closes before the answer, and one made while another is in flight', async () => {
    const server: Server = createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = leanHttpClient(`http://127.0.0.1:${port}/graphql`);
    try {
      const first = client.request('{ x }');
      await expect(client.request('{ y }')).rejects.toThrow(/one request at a time/);
      await expect(first).rejects.toThrow(/closed the connection mid-request|ECONNRESET/);
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
