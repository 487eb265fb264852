import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

// A body over the limit is answered 413 PAYLOAD_TOO_LARGE, and the client gets to read that
// answer: the server reads the rest of the upload into nothing before closing (src/server/http.ts).
// Closing earlier made clients see EPIPE/ECONNRESET instead, some of the time; hence 20 rounds each.
const LIMIT = 1_048_576;
const BODY = Buffer.alloc(3 * LIMIT, 'x');
const ROUNDS = 20;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ app: { maxBodyBytes: LIMIT } });
});
afterAll(async () => {
  await server?.close();
});

interface Answer {
  status: number;
  code: unknown;
  /** A socket error the client saw (EPIPE, ECONNRESET), even after the answer. */
  error?: string;
}

function codeOf(text: string): unknown {
  return (JSON.parse(text) as { errors?: { extensions?: { code?: unknown } }[] }).errors?.[0]?.extensions?.code;
}

/**
 * POSTs `body` through node:http, declaring its length or chunked, and settles when the request
 * is over (so an error after the answer counts too). `afterAnswer`: send the first half, then the
 * rest only once the answer has arrived, as a client does that does not stop for an early answer.
 */
function postNode(body: Buffer, options: { chunked: boolean; afterAnswer?: boolean }): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (!options.chunked) headers['content-length'] = body.length;
    let status = 0;
    let text = '';
    let error: string | undefined;
    const half = Math.floor(body.length / 2);
    const req = httpRequest(server.url, { method: 'POST', headers, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      if (options.afterAnswer) req.end(body.subarray(half));
    });
    req.setTimeout(15_000, () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    req.on('close', () => resolve({ status, code: text ? codeOf(text) : undefined, ...(error ? { error } : {}) }));
    if (options.afterAnswer) {
      req.write(body.subarray(0, half));
      return;
    }
    for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.subarray(at, at + 64 * 1024));
    req.end();
  });
}

/** POSTs `body` with fetch (undici): as one buffer (Content-Length) or as a stream (chunked). */
async function postFetch(body: Buffer, streamed: boolean): Promise<Answer> {
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= body.length) return controller.close();
      controller.enqueue(new Uint8Array(body.subarray(at, (at += 64 * 1024))));
    },
  });
  const res = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: streamed ? stream : new Uint8Array(body),
    duplex: 'half',
    signal: AbortSignal.timeout(15_000),
  } as RequestInit);
  return { status: res.status, code: codeOf(await res.text()) };
}

const REFUSED: Answer = { status: 413, code: 'PAYLOAD_TOO_LARGE' };

describe('a body over the limit', () => {
  const clients = [
    { name: 'node:http, Content-Length', send: () => postNode(BODY, { chunked: false }) },
    { name: 'node:http, chunked', send: () => postNode(BODY, { chunked: true }) },
    { name: 'fetch, Content-Length', send: () => postFetch(BODY, false) },
    { name: 'fetch, a stream (chunked)', send: () => postFetch(BODY, true) },
    // These failed every time when the server closed at once: the rest of the upload hit a closed socket.
    { name: 'node:http, Content-Length, sending on after the answer', send: () => postNode(BODY, { chunked: false, afterAnswer: true }) },
    { name: 'node:http, chunked, sending on after the answer', send: () => postNode(BODY, { chunked: true, afterAnswer: true }) },
  ];
  it.each(clients)('is answered 413 PAYLOAD_TOO_LARGE, with no reset, every time ($name)', async ({ send }) => {
    const answers: Answer[] = [];
    for (let round = 0; round < ROUNDS; round += 1) answers.push(await send());
    expect(answers).toEqual(Array.from({ length: ROUNDS }, () => REFUSED));
    // The server is fine afterwards.
    const after = await server.post({ query: '{ queueStats { queue } }' });
    expect(after.status).toBe(200);
    expect(after.errors).toBeUndefined();
  });

  it('is cut off once the client sends far past the limit (an endless upload over raw TCP)', async () => {
    // Raw TCP: node:http's client ends the connection itself once it has a complete
    // `connection: close` answer; this client keeps sending until the server cuts it.
    const { hostname, port } = new URL(server.url);
    let sent = 0;
    let received = '';
    const error = await new Promise<string | undefined>((resolve) => {
      let failure: string | undefined;
      const socket = connect(Number(port), hostname, () => {
        socket.write(`POST /graphql HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
        const chunk = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`), Buffer.alloc(64 * 1024, 'x'), Buffer.from('\r\n')]);
        const pump = (): void => {
          while (!socket.destroyed && socket.writable) {
            sent += 64 * 1024;
            if (!socket.write(chunk)) {
              socket.once('drain', pump);
              return;
            }
          }
        };
        pump();
      });
      socket.setEncoding('latin1');
      socket.on('data', (text: string) => (received += text));
      socket.on('error', (e: NodeJS.ErrnoException) => (failure ??= e.code));
      socket.once('close', () => resolve(failure));
      socket.setTimeout(15_000, () => socket.destroy(new Error('the server never cut the upload')));
    });
    expect(error === undefined || ['ECONNRESET', 'EPIPE'].includes(error), String(error)).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    // Cut at 4 × the limit (the default); socket buffers on both sides hold a few MiB more.
    expect(sent).toBeGreaterThan(4 * LIMIT);
    expect(sent).toBeLessThan(16 * LIMIT);
    const after = await server.post({ query: '{ queueStats { queue } }' });
    expect(after.status).toBe(200);
  });
});

describe('a body within the limit', () => {
  it('still reaches GraphQL, declared or chunked', async () => {
    const query = JSON.stringify({ query: `{ queueStats { queue } }${' '.repeat(LIMIT - 100)}` });
    for (const chunked of [false, true]) {
      const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const headers: Record<string, string | number> = { 'content-type': 'application/json' };
        if (!chunked) headers['content-length'] = Buffer.byteLength(query);
        const req = httpRequest(server.url, { method: 'POST', headers }, (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (text += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.end(query);
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toMatchObject({ data: { queueStats: expect.any(Array) } });
    }
  });
});
