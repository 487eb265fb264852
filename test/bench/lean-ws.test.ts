import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leanWsClient, type LeanSink, type SubscriptionClient } from '../../bench/lib/lean-ws.js';
import { FrameReader, OP_PING, OP_TEXT } from '../../bench/lib/ws-frame-reader.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

// The bench's lean graphql-ws client (i, j) must be a whole client: every frame parsed, every
// message checked, nothing skipped. Against the real server, and its frame parser on its own.

/** A server frame (unmasked), FIN as given. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([opcode | (fin ? 0x80 : 0), len]) : len < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65_536) {
    head[0] = opcode | (fin ? 0x80 : 0);
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65_536) {
    head[0] = opcode | (fin ? 0x80 : 0);
    head[1] = 127;
    head.writeUInt32BE(len, 6);
  }
  return Buffer.concat([head, payload]);
}

function readAll(chunks: Buffer[]): { frames: [number, string][]; error: string | undefined } {
  const reader = new FrameReader();
  const frames: [number, string][] = [];
  let error: string | undefined;
  for (const c of chunks) {
    error ??= reader.push(c, (op, p) => {
      frames.push([op, p.toString()]);
      return true;
    });
  }
  return { frames, error };
}

describe('FrameReader', () => {
  it('parses frames split anywhere, 7/16/64-bit lengths, and a fragmented message with a ping inside', () => {
    const big = 'x'.repeat(70_000);
    const mid = 'y'.repeat(300);
    const stream = Buffer.concat([
      frame(OP_TEXT, Buffer.from('{"a":1}')),
      frame(OP_TEXT, Buffer.from(mid)),
      frame(OP_TEXT, Buffer.from(big)),
      frame(OP_TEXT, Buffer.from('frag-'), false),
      frame(OP_PING, Buffer.from('p')),
      frame(0x0, Buffer.from('ment'), true),
    ]);
    const whole = readAll([stream]);
    // Pieces of 1, 2, 3, 5, 8, 13 and 4,093 bytes in turn: every header and payload split somewhere.
    const pieces: Buffer[] = [];
    for (let at = 0, k = 0; at < stream.length; k++) {
      const size = [1, 2, 3, 5, 8, 13, 4093][k % 7] as number;
      pieces.push(stream.subarray(at, at + size));
      at += size;
    }
    const split = readAll(pieces);
    const expected: [number, string][] = [[OP_TEXT, '{"a":1}'], [OP_TEXT, mid], [OP_TEXT, big], [OP_PING, 'p'], [OP_TEXT, 'frag-ment']];
    expect(whole).toEqual({ frames: expected, error: undefined });
    expect(split).toEqual({ frames: expected, error: undefined });
  });

  it('refuses what a server must not send: a masked frame, reserved bits, a stray continuation, a fragmented control frame', () => {
    const masked = Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0x61]);
    expect(readAll([masked]).error).toMatch(/masked/);
    expect(readAll([Buffer.from([0xc1, 0x00])]).error).toMatch(/reserved bits/);
    expect(readAll([frame(0x0, Buffer.from('x'))]).error).toMatch(/continuation/);
    expect(readAll([frame(OP_PING, Buffer.from('x'), false)]).error).toMatch(/control frame/);
    expect(readAll([frame(0x3, Buffer.from('x'))]).error).toMatch(/reserved opcode/);
  });
});

describe('leanWsClient against the server', () => {
  let server: TestServer;
  const clients: SubscriptionClient[] = [];
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await server.close();
  });

  const collect = (client: SubscriptionClient, query: string, variables: Record<string, unknown>): { values: unknown[]; end: Promise<string>; errors: unknown[] } => {
    const values: unknown[] = [];
    const errors: unknown[] = [];
    const end = new Promise<string>((resolve) => {
      const sink: LeanSink = {
        next: (r) => values.push(r),
        error: (e) => {
          errors.push(e);
          resolve('error');
        },
        complete: () => resolve('complete'),
      };
      client.subscribe({ query, variables }, sink);
    });
    return { values, end, errors };
  };

  it('gets every output chunk of a task in order, then complete, on several subscriptions of one socket', async () => {
    const id = await server.enqueue('demo.output', [300, 0]);
    const client = leanWsClient(server.wsUrl.replace(/^ws/, 'http'));
    clients.push(client);
    const query = 'subscription S($id: ID!) { taskEvents(id: $id, afterVersion: 0, types: [OUTPUT]) { version output } }';
    const streams = [0, 1, 2].map(() => collect(client, query, { id }));
    await server.startRunner();
    for (const s of streams) {
      expect(await s.end).toBe('complete');
      const chunks = s.values.map((v) => (v as { data: { taskEvents: { output: { i: number } } } }).data.taskEvents.output.i);
      expect(chunks).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    }
  });

  it('passes a GraphQL error message to the sink as its list of errors, and the socket stays usable', async () => {
    const client = leanWsClient(server.wsUrl.replace(/^ws/, 'http'));
    clients.push(client);
    const bad = collect(client, 'subscription { noSuchField }', {});
    expect(await bad.end).toBe('error');
    expect(Array.isArray(bad.errors[0])).toBe(true);
    const id = await server.enqueue('demo.output', [3, 0]);
    const good = collect(client, 'subscription S($id: ID!) { taskEvents(id: $id, afterVersion: 0) { version } }', { id });
    await server.startRunner();
    expect(await good.end).toBe('complete');
    expect(good.values.length).toBeGreaterThan(3);
  });

  it('reports the socket closing under an open subscription to the sink and the closed listeners, with its code', async () => {
    const client = leanWsClient(server.wsUrl.replace(/^ws/, 'http'));
    const closes: number[] = [];
    client.on('closed', (c) => closes.push(c.code));
    // Due in an hour: the stream stays open.
    const { id } = await server.deps.queue.enqueue({ name: 'demo.output', args: [1, 0], runAfter: new Date(Date.now() + 3_600_000) });
    const open = collect(client, 'subscription S($id: ID!) { taskEvents(id: $id, afterVersion: 0) { version } }', { id });
    await waitFor(() => open.values.length === 1, { message: 'the ENQUEUED replay' });
    await client.dispose();
    expect(await open.end).toBe('error');
    expect(open.errors[0]).toMatchObject({ code: 1000 });
    expect(closes).toEqual([1000]);
  });
});
