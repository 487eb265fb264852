import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from './run-cli.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ runner: {} });
});

afterAll(async () => {
  await server?.close();
});

/**
 * A TCP proxy to `port` that passes the first HTTP request at once and holds every later one
 * (a POST or the WebSocket upgrade's GET, with what follows it on that connection) until `until`
 * resolves: a command's watch then opens after a fast task has ended, as it does on a slow link.
 */
async function startHoldingProxy(port: number, until: () => Promise<unknown>): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const proxy: Server = createServer((downstream) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    upstream.pipe(downstream);
    // In order on each connection: a chunk waits for the ones before it.
    let sent = Promise.resolve();
    downstream.on('data', (chunk: Buffer) => {
      const startsRequest = /^(POST|GET) /.test(chunk.toString('latin1', 0, 5));
      const hold = startsRequest && requests++ > 0;
      sent = sent.then(async () => {
        if (hold) await until();
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });
    downstream.on('end', () => void sent.then(() => upstream.end()));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/graphql`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  };
}

describe('taskwire enqueue --wait', () => {
  it('prints every transition after ENQUEUED, the first RUNNING included, of a task that ended before the watch opened', { timeout: 60_000 }, async () => {
    // demo.fail lives ~150 ms; every request after the enqueue reaches the server once it has ended.
    const ended = async (): Promise<unknown> =>
      waitFor(async () => (await server.sql`SELECT 1 FROM tasks WHERE name = 'demo.fail' AND status = 'FAILED'`).length === 1, { message: 'demo.fail to end' });
    let held: Promise<unknown> | undefined;
    const proxy = await startHoldingProxy(Number(new URL(server.url).port), () => (held ??= ended()));
    try {
      const result = await runCli(['enqueue', 'demo.fail', '--args', '["boom"]', '--max-attempts', '2', '--wait'], { TASKWIRE_URL: proxy.url });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      const lines = result.stderr.split('\n');
      expect(lines.slice(0, 4)).toEqual(['RUNNING attempt 1/2', 'attempt 1: DemoFailure: boom (will retry)', 'RETRYING attempt 1/2', 'RUNNING attempt 2/2']);
      expect(lines[4]).toMatch(/^taskwire: task \S+ \(demo\.fail\) FAILED after 2 attempt\(s\)$/);
    } finally {
      await proxy.close();
    }
  });
});
