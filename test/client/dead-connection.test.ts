import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type TaskEvent } from '../../src/client/index.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

// A client's WebSocket on a path that goes silent: a frozen server, a stuck proxy, a NAT that forgot
// the connection. No close and no reset ever comes, so only the client's own bounds end it (a
// tester's finding, session 48): the pong wait ended in a close that waited 30 s more for the
// peer's close frame, and a connection accepted but never answered held a watch for ever.
let server: TestServer;
let gates: Gates;
let path: SilentPath;

/** A TCP path to the server whose connections can be frozen: accepted and kept, nothing passed either way. */
interface SilentPath {
  url: string;
  /** From now on, every connection (open or new) passes nothing. */
  freeze(): void;
  /** New connections pass again (those frozen stay frozen). */
  thaw(): void;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

async function startSilentPath(target: string): Promise<SilentPath> {
  const port = Number(new URL(target).port);
  let freezeNew = false;
  let accepted = 0;
  const links = new Set<{ frozen: boolean; sockets: Socket[] }>();
  const proxy: Server = createServer((down) => {
    accepted += 1;
    const link = { frozen: freezeNew, sockets: [down] };
    links.add(link);
    down.on('error', () => undefined);
    down.on('close', () => links.delete(link));
    if (link.frozen) {
      down.on('data', () => undefined);
      return;
    }
    const up = connect(port, '127.0.0.1');
    link.sockets.push(up);
    up.on('error', () => undefined);
    up.on('close', () => down.destroy());
    down.on('close', () => up.destroy());
    down.on('data', (data: Buffer) => void (link.frozen || up.write(data)));
    up.on('data', (data: Buffer) => void (link.frozen || down.write(data)));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.port = String((proxy.address() as AddressInfo).port);
  return {
    url: url.href,
    freeze() {
      freezeNew = true;
      for (const link of links) link.frozen = true;
    },
    thaw() {
      freezeNew = false;
    },
    accepted: () => accepted,
    async close() {
      for (const link of links) for (const socket of link.sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: gates.tasks, runner: {} });
  path = await startSilentPath(server.url);
});
afterAll(async () => {
  await path?.close();
  await server?.close();
});

/** Every event of task `id` the client yields, read until the terminal one, into `into`. */
async function collect(events: AsyncIterable<TaskEvent>, into: TaskEvent[]): Promise<void> {
  for await (const event of events) into.push(event);
}

describe('a WebSocket whose path goes silent', () => {
  it('is dropped when no pong comes within keepAliveMs and the stream resumes on a new one, with no gap and no repeat', async () => {
    const client = createClient({ url: path.url, keepAliveMs: 300, retry: { baseMs: 50, maxMs: 200 } });
    try {
      const id = await server.enqueue('test.gate', ['silent-pong']);
      const seen: TaskEvent[] = [];
      const done = collect(client.events(id), seen);
      await waitFor(() => seen.some((e) => e.type === 'STARTED'), { message: 'the task started, seen through the path' });
      path.freeze();
      const frozenAt = performance.now();
      const before = path.accepted();
      path.thaw();
      gates.open('silent-pong');
      await done;
      // ws's close() waited 30 s for the silent peer's close frame before graphql-ws reconnected.
      expect(performance.now() - frozenAt).toBeLessThan(10_000);
      expect(path.accepted()).toBeGreaterThan(before);
      expect(seen.map((e) => e.version)).toEqual([1, 2, 3]);
      expect(seen.at(-1)?.type).toBe('SUCCEEDED');
    } finally {
      await client.close();
    }
  });

  it('drops a connection accepted but never answered after requestTimeoutMs, and connects again', async () => {
    const client = createClient({ url: path.url, requestTimeoutMs: 500, keepAliveMs: 300, retry: { baseMs: 50, maxMs: 200 } });
    try {
      const id = await server.enqueue('test.gate', ['silent-open']);
      await waitFor(async () => (await server.deps.queue.getTask(id))?.status === 'RUNNING', { message: 'the task running' });
      path.freeze();
      const before = path.accepted();
      const seen: TaskEvent[] = [];
      const done = collect(client.events(id), seen);
      // The upgrade is sent and never answered.
      await waitFor(() => path.accepted() > before, { message: 'the first connection taken by the silent path' });
      path.thaw();
      gates.open('silent-open');
      // Before: the attempt waited for ever (no handshake or acknowledgement bound).
      await Promise.race([done, waitFor(() => false, { message: 'the events through a new connection', timeoutMs: 10_000 })]);
      expect(seen.map((e) => e.type)).toEqual(['ENQUEUED', 'STARTED', 'SUCCEEDED']);
      expect(path.accepted()).toBeGreaterThan(before + 1);
    } finally {
      await client.close();
    }
  });

  it('close() does not wait for a connection still opening to a silent peer', async () => {
    // The default bound (30 s): close() waited for it, and the process could not exit meanwhile.
    const client = createClient({ url: path.url, retry: { baseMs: 50, maxMs: 200 } });
    path.freeze();
    try {
      const before = path.accepted();
      const id = await server.enqueue('test.gate', ['silent-close']);
      const done = collect(client.events(id), []).then(
        () => 'ended',
        (error: unknown) => (error as { code?: string }).code,
      );
      await waitFor(() => path.accepted() > before, { message: 'the connection taken by the silent path' });
      const closing = performance.now();
      await client.close();
      expect(performance.now() - closing).toBeLessThan(5_000);
      expect(await done).toBe('CLIENT_CLOSED');
    } finally {
      path.thaw();
      gates.open('silent-close');
    }
  });
});
