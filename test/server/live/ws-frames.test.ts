import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ReadyStep, readyStep } from '../../../src/server/live/ready-step.js';
import { FrameQueue } from '../../../src/server/live/ws-frames.js';

let wss: WebSocketServer | undefined;

afterEach(async () => {
  // ws's server closes only once its sockets have (it does not close them itself).
  for (const socket of wss?.clients ?? []) socket.terminate();
  await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  wss = undefined;
});

/** A server socket with a FrameQueue on its TCP socket, and a `ws` client that records what it gets. */
async function pair(): Promise<{ server: WebSocket; queue: FrameQueue; got: string[]; closed: Promise<number> }> {
  const server = new WebSocketServer({ port: 0, perMessageDeflate: false });
  wss = server;
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const connected = new Promise<[WebSocket, IncomingMessage]>((resolve) => server.once('connection', (s, r) => resolve([s, r])));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const got: string[] = [];
  client.on('message', (data, binary) => got.push(binary ? '<binary>' : String(data)));
  const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
  const [socket, request] = await connected;
  return { server: socket, queue: new FrameQueue(socket, request.socket as Socket), got, closed };
}

describe('FrameQueue', () => {
  it('writes frames of every header size, shared and large parts, in order, before a close frame', async () => {
    const { server, queue, got, closed } = await pair();
    const prefix = Buffer.from('{"id":"é","payload":');
    const small = Buffer.from('"x"');
    const medium = Buffer.from(JSON.stringify('m'.repeat(300))); // 126..65535: 16-bit length
    const large = Buffer.from(JSON.stringify('L'.repeat(70_000))); // ≥ 65536: 64-bit length, written by reference
    const close = Buffer.from('}');
    queue.text(prefix, small, close);
    queue.text(prefix, medium, close);
    queue.text(prefix, large, close);
    server.ping(); // ws's own control frame lands between whole frames
    queue.text(prefix, small, close);
    expect(queue.pendingBytes).toBeGreaterThan(70_000);
    queue.flush(); // what a close does first
    expect(queue.pendingBytes).toBe(0);
    server.close(1000, 'done');
    queue.text(Buffer.from('"after close"')); // no longer OPEN: dropped, never after the close frame
    expect(await closed).toBe(1000);
    const expected = [small, medium, large, small].map((b) => `${prefix.toString()}${b.toString()}}`);
    expect(got).toEqual(expected);
  });

  it('writes a burst at the end of the tick without an explicit flush', async () => {
    const { queue, got } = await pair();
    for (let i = 0; i < 100; i++) queue.text(Buffer.from(String(i)));
    expect(got).toEqual([]);
    const deadline = Date.now() + 5000;
    while (got.length < 100 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });
});

describe('readyStep', () => {
  it('runs a chain of then synchronously and stays a valid thenable for await', async () => {
    const order: string[] = [];
    const step = readyStep({ value: 1, done: false });
    const chained = step.then((s) => ({ value: (s.value as number) + 1, done: false })).catch(() => undefined);
    order.push('after then');
    expect(chained).toBeInstanceOf(ReadyStep);
    expect((chained as unknown as ReadyStep<IteratorResult<number>>).value).toEqual({ value: 2, done: false });
    expect(await step).toEqual({ value: 1, done: false });
    expect(order).toEqual(['after then']);
  });

  it('rejects when a callback throws, and passes a returned promise on', async () => {
    const step = readyStep({ value: 1, done: false });
    await expect(
      step.then(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(step.then(() => Promise.resolve('later'))).resolves.toBe('later');
  });
});
