import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { buildApp, type App } from '../../../src/server/app.js';
import { MAX_ANSWERING } from '../../../src/server/live/ws-connection.js';
import { EnqueueTaskDocument } from '../../generated/graphql.js';
import { startTestServer, type TestServer } from '../../helpers/graphql.js';
import { waitFor } from '../../helpers/wait.js';

/** Every line the server's logger wrote, parsed. */
const logLines: Record<string, unknown>[] = [];
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);

const MAX_BYTES = 64 * 1024;
let server: TestServer;
beforeAll(async () => {
  // No keep-alive pings here (0 turns them off): on a loaded machine a pong can miss a short
  // round, and the socket of a test about something else would be dropped. The keep-alive
  // test below has a server of its own.
  server = await startTestServer({ runner: false, log, app: { maxBodyBytes: MAX_BYTES, keepAliveMs: 0 } });
});
afterAll(async () => {
  await server?.close();
});

interface RawSocket {
  socket: WebSocket;
  /** Messages received, parsed. */
  messages: Record<string, unknown>[];
  /** Resolves with the close code. */
  closed: Promise<number>;
  send(message: unknown): void;
  /** The first message (received or not) matching `predicate`. */
  next(predicate: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** A bare graphql-transport-ws socket: the test speaks the protocol itself. */
async function openRaw(options: { protocols?: string[]; init?: boolean; autoPong?: boolean; url?: string } = {}): Promise<RawSocket> {
  const socket = new WebSocket(options.url ?? server.wsUrl, options.protocols ?? ['graphql-transport-ws'], { autoPong: options.autoPong ?? true });
  const messages: Record<string, unknown>[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const raw: RawSocket = {
    socket,
    messages,
    closed,
    send: (message) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)),
    next: async (predicate) => {
      await waitFor(() => messages.some(predicate), { message: 'a message from the server' });
      return messages.find(predicate)!;
    },
  };
  if (options.init ?? true) {
    raw.send({ type: 'connection_init' });
    await raw.next((m) => m.type === 'connection_ack');
  }
  return raw;
}

const WATCH = 'subscription ($id: ID!) { taskStatusChanged(id: $id) { id status version } }';

async function enqueue(): Promise<string> {
  const res = await server.execute(EnqueueTaskDocument, { input: { name: 'demo.echo', args: ['ws'] } });
  return res.data!.enqueueTask.task.id;
}

describe('useGraphQLWs', () => {
  it('refuses a message over maxPayload with 1009, one warning in the log and nothing on stderr', async () => {
    const stderr = vi.spyOn(process.stderr, 'write');
    const consoleError = vi.spyOn(console, 'error');
    const seen = logLines.length;
    try {
      const raw = await openRaw({ init: false });
      raw.send({ type: 'connection_init', payload: { pad: 'x'.repeat(2 * MAX_BYTES) } });
      expect(await raw.closed).toBe(1009); // Message Too Big
      await waitFor(() => logLines.length > seen, { message: 'the log line' });
      const lines = logLines.slice(seen);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 40, details: [{ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' }] });
      expect(JSON.stringify(lines[0])).not.toMatch(/\n\s+at /); // no stack trace
      expect(stderr).not.toHaveBeenCalled();
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
      consoleError.mockRestore();
    }
    // The server goes on serving.
    const other = await openRaw();
    other.send({ id: 'q', type: 'subscribe', payload: { query: '{ __typename }' } });
    expect(await other.next((m) => m.type === 'next')).toEqual({ id: 'q', type: 'next', payload: { data: { __typename: 'Query' } } });
    await other.next((m) => m.id === 'q' && m.type === 'complete');
    other.socket.close();
  });

  it.each([
    { name: 'no graphql-transport-ws subprotocol', protocols: [], init: false, send: [], code: 4406 },
    { name: 'a subscribe before connection_init', init: false, send: [{ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } }], code: 4401 },
    { name: 'a second connection_init', send: [{ type: 'connection_init' }], code: 4429 },
    { name: 'a message that is not one of the protocol', send: ['{"type":"hello"}'], code: 4400 },
    { name: 'a message that is not JSON', send: ['{'], code: 4400 },
    { name: 'a message the server sends, from the client', send: [{ id: '1', type: 'next', payload: {} }], code: 4400 },
  ])('closes the socket for $name ($code)', async ({ protocols, init, send, code }) => {
    const raw = await openRaw({ protocols, init });
    for (const message of send) raw.send(message);
    expect(await raw.closed).toBe(code);
  });

  it('closes with 4409 on a second subscription under a running id', async () => {
    const id = await enqueue();
    const raw = await openRaw();
    raw.send({ id: 'a', type: 'subscribe', payload: { query: WATCH, variables: { id } } });
    await raw.next((m) => m.type === 'next');
    raw.send({ id: 'a', type: 'subscribe', payload: { query: WATCH, variables: { id } } });
    expect(await raw.closed).toBe(4409);
    await waitFor(() => server.app.stats.subscriptions === 0, { message: 'the subscription to end with its socket' });
  });

  it('closes with 4409 (its reason cut to fit a close frame) on a second subscription under a long id', async () => {
    const raw = await openRaw();
    const id = 'é'.repeat(200);
    raw.send({ id, type: 'subscribe', payload: { query: 'subscription { taskStatusChanged(filter: {}) { id } }' } });
    await waitFor(() => server.app.stats.subscriptions === 1, { message: 'the filter subscription' });
    raw.send({ id, type: 'subscribe', payload: { query: 'subscription { taskStatusChanged(filter: {}) { id } }' } });
    expect(await raw.closed).toBe(4409);
    await waitFor(() => server.app.stats.subscriptions === 0, { message: 'the subscription to end with its socket' });
  });

  it(`refuses queries past ${MAX_ANSWERING} in flight on one socket with RATE_LIMITED, keeping the socket, and takes them again once answered`, async () => {
    const raw = await openRaw();
    const QUERY = '{ queueStats { queue } }';
    // Every read of tasks waits behind this lock: the queries stay in flight until it is released.
    const locker = await server.sql.reserve();
    try {
      await locker`BEGIN`;
      await locker`LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE`;
      for (let i = 0; i < MAX_ANSWERING + 4; i++) raw.send({ id: `q${i}`, type: 'subscribe', payload: { query: QUERY } });
      for (let i = MAX_ANSWERING; i < MAX_ANSWERING + 4; i++) {
        const refused = await raw.next((m) => m.id === `q${i}`);
        expect(refused).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'RATE_LIMITED' } }] });
      }
      expect(raw.messages.filter((m) => m.type === 'next')).toHaveLength(0);
    } finally {
      await locker`COMMIT`;
      locker.release();
    }
    for (let i = 0; i < MAX_ANSWERING; i++) expect(await raw.next((m) => m.id === `q${i}` && m.type === 'complete')).toBeTruthy();
    raw.send({ id: 'again', type: 'subscribe', payload: { query: QUERY } });
    expect(await raw.next((m) => m.id === 'again')).toMatchObject({ type: 'next' });
    raw.socket.close();
  });

  it('answers a ping with a pong carrying its payload', async () => {
    const raw = await openRaw();
    raw.send({ type: 'ping', payload: { n: 1 } });
    expect(await raw.next((m) => m.type === 'pong')).toEqual({ type: 'pong', payload: { n: 1 } });
    raw.socket.close();
  });

  it('runs a query and a subscription side by side; complete from the client ends only its subscription', async () => {
    const id = await enqueue();
    const raw = await openRaw();
    raw.send({ id: 'w', type: 'subscribe', payload: { query: WATCH, variables: { id } } });
    raw.send({ id: 'q', type: 'subscribe', payload: { query: 'query Q { __typename }', operationName: 'Q' } });
    expect(await raw.next((m) => m.id === 'w' && m.type === 'next')).toEqual({
      id: 'w',
      type: 'next',
      payload: { data: { taskStatusChanged: { id, status: 'PENDING', version: 1 } } },
    });
    await raw.next((m) => m.id === 'q' && m.type === 'complete');
    expect(server.app.stats.subscriptions).toBe(1);
    raw.send({ id: 'w', type: 'complete' });
    await waitFor(() => server.app.stats.subscriptions === 0, { message: 'the subscription to end' });
    // The socket stays open and usable; the client's own complete is not echoed.
    raw.send({ type: 'ping' });
    await raw.next((m) => m.type === 'pong');
    expect(raw.messages.filter((m) => m.id === 'w').map((m) => m.type)).toEqual(['next']);
    raw.socket.close();
  });

  it('answers bad operations with an error message and a code, keeping the socket', async () => {
    const raw = await openRaw();
    raw.send({ id: 'p', type: 'subscribe', payload: { query: 'subscription {' } });
    raw.send({ id: 'v', type: 'subscribe', payload: { query: 'subscription { nope }' } });
    raw.send({ id: 'o', type: 'subscribe', payload: { query: 'query A { __typename } query B { __typename }' } });
    raw.send({ id: 'n', type: 'subscribe', payload: { query: WATCH, variables: { id: '0190a4a8-0000-7000-8000-000000000000' } } });
    const codes = async (id: string): Promise<unknown> => {
      const m = await raw.next((x) => x.id === id && (x.type === 'error' || x.type === 'next'));
      const errors = (m.type === 'error' ? m.payload : (m.payload as { errors: unknown }).errors) as { extensions: { code: string } }[];
      return errors.map((e) => e.extensions.code);
    };
    expect(await codes('p')).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(await codes('v')).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(await codes('o')).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(await codes('n')).toEqual(['NOT_FOUND']);
    expect(JSON.stringify(raw.messages)).not.toMatch(/\n\s+at /);
    raw.send({ type: 'ping' });
    await raw.next((m) => m.type === 'pong');
    raw.socket.close();
  });

  describe('keep-alive', () => {
    const KEEP_ALIVE_MS = 50;
    let app: App;
    let wsUrl: string;
    beforeAll(async () => {
      // A second server on the same core, pinging every KEEP_ALIVE_MS.
      app = buildApp(server.deps, { keepAliveMs: KEEP_ALIVE_MS });
      const { url } = await app.start(0, '127.0.0.1');
      wsUrl = url.replace(/^http/, 'ws');
    });
    afterAll(async () => {
      await app?.stop();
    });

    it('drops a client that does not answer pings', async () => {
      const raw = await openRaw({ autoPong: false, url: wsUrl });
      // Pinged, then dropped at the next round without a pong.
      expect(await raw.closed).toBe(1006);
    });
  });
});
