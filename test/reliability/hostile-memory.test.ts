import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { ENQUEUE_MUTATION, postRaw } from '../helpers/reliability-hostile.js';
import { alive, gql, killHard, rssMiB, serverUrl, spawnCli } from '../helpers/reliability-processes.js';
import type { TaskwireProcess } from '../helpers/taskwire-process.js';

// Hostile traffic against a server in its own process, where its memory can be measured:
// each attack is refused, the heap it holds comes back to its baseline, and it keeps
// answering normal requests in its usual time.
const ROUNDS = 4;
const GC_ON_SIGNAL = fileURLToPath(new URL('../helpers/gc-on-signal.cjs', import.meta.url));
let gcRequests = 0;

/** The server's V8 heap in use after full garbage collections, in MiB: what it still holds. */
async function heapAfterGcMiB(): Promise<number> {
  gcRequests += 1;
  const seq = gcRequests;
  process.kill(server.child.pid!, 'SIGUSR2');
  const line = await server.waitForLog((l) => l.msg === 'heap after gc' && l.seq === seq, 10_000);
  return Math.round((Number(line.heapUsed) / 1_048_576) * 10) / 10;
}
const DROPPED_SOCKETS = 2000;
let database: TestDatabase;
let server: TaskwireProcess;
let url: string;
beforeAll(async () => {
  database = await createTestDatabase();
  // Preloaded: SIGUSR2 makes the server collect its garbage and log its heap (see heapAfterGcMiB).
  server = spawnCli('serve', { DATABASE_URL: database.url, PORT: '0', NODE_OPTIONS: `--expose-gc --require ${GC_ON_SIGNAL}` });
  url = await serverUrl(server);
});
afterAll(async () => {
  if (server) await killHard(server);
  await database?.drop();
});

async function normalMs(): Promise<number> {
  const started = performance.now();
  const res = await gql(url, '{ queueStats { queue total } }');
  expect(res.status).toBe(200);
  expect(res.errors).toBeUndefined();
  return performance.now() - started;
}

/** The status of a POST, 0 when the server cut the connection first (see postRaw). */
async function post(body: string): Promise<number> {
  return (await postRaw(url, body)).status;
}

/** Opens `count` graphql-ws sockets (in batches), sends nothing, then drops them all. */
async function openAndDrop(count: number): Promise<void> {
  const wsUrl = url.replace(/^http/, 'ws');
  for (let done = 0; done < count; done += 250) {
    const batch = await Promise.all(
      Array.from(
        { length: Math.min(250, count - done) },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
            socket.once('open', () => resolve(socket));
            socket.once('error', reject);
          }),
      ),
    );
    for (const socket of batch) socket.terminate();
  }
}

/** Opens sockets that never send connection_init and waits for the server to close them itself. */
async function leftToTimeOut(count: number): Promise<number[]> {
  const wsUrl = url.replace(/^http/, 'ws');
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<number>((resolve, reject) => {
          const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
          socket.once('error', reject);
          socket.once('close', (code) => resolve(code));
        }),
    ),
  );
}

async function oversizedWsMessages(count: number): Promise<number[]> {
  const wsUrl = url.replace(/^http/, 'ws');
  const pad = 'x'.repeat(2 * 1024 * 1024);
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<number>((resolve, reject) => {
          const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
          socket.once('error', () => undefined); // the server cutting the socket mid-send
          socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { pad } })));
          socket.once('close', (code) => resolve(code));
          setTimeout(() => reject(new Error('socket not closed')), 15_000).unref();
        }),
    ),
  );
}

async function attackRound(): Promise<Record<string, string>> {
  const seen: Record<string, string> = {};
  // Idle sockets wait for the server's connection_init timeout (3 s) while the rest goes on.
  const idle = leftToTimeOut(100);
  await openAndDrop(DROPPED_SOCKETS);
  seen.dropped = `${DROPPED_SOCKETS} sockets dropped`;
  const big = await Promise.all(Array.from({ length: 20 }, () => post(JSON.stringify({ query: '{ queueStats { queue } }', pad: 'x'.repeat(2 * 1024 * 1024) }))));
  seen.bodies = `20 × 2 MiB bodies → ${[...new Set(big)].join('/')}`;
  const aliases = `{ ${Array.from({ length: 10_000 }, (_, i) => `a${i}: queueStats { queue }`).join(' ')} }`;
  const alias = await Promise.all(Array.from({ length: 20 }, () => post(JSON.stringify({ query: aliases }))));
  seen.aliases = `20 × 10,000 aliases → ${[...new Set(alias)].join('/')}`;
  const vars = JSON.stringify({ query: ENQUEUE_MUTATION, variables: { input: { name: 'demo.echo', args: Array.from({ length: 180_000 }, (_, i) => i % 10) } } });
  const huge = await Promise.all(Array.from({ length: 20 }, () => post(vars)));
  seen.variables = `20 × 900 KB variables → ${[...new Set(huge)].join('/')}`;
  const ws = await oversizedWsMessages(10);
  seen.wsMessages = `10 × 2 MiB graphql-ws messages → close ${[...new Set(ws)].join('/')}`;
  const timedOut = await idle;
  seen.idle = `100 idle sockets closed by the server with ${[...new Set(timedOut)].join('/')}`;
  // Refused: 413 for the bodies (read to their end, so the client reads the answer); 4xx or
  // a coded error (200 for application/json) for the rest. Never a 5xx.
  for (const status of big) expect(status).toBe(413);
  for (const status of [...alias, ...huge]) expect(status).toBeLessThan(500);
  expect(timedOut.every((code) => code === 4408)).toBe(true); // Connection initialisation timeout
  // Message too big (1009); or 1006 when the server's close and cut arrive while this client is
  // still writing its 2 MiB (a loaded machine): the close frame is then never read. Refused either way.
  expect(ws.filter((code) => code !== 1009 && code !== 1006)).toEqual([]);
  expect(ws).toContain(1009);
  return seen;
}

describe('a server process under hostile traffic', () => {
  it('refuses it all, keeps answering in its usual time, and its memory returns to the baseline', { timeout: 120_000 }, async () => {
    const usual = Math.max(...(await Promise.all([1, 2, 3, 4, 5].map(() => normalMs()))));
    const started = { rss: await rssMiB(server.child.pid!), heap: await heapAfterGcMiB() };
    // One round first, so the baseline includes what any first use allocates (code, caches, pools).
    await attackRound();
    await normalMs();
    const baseline = { rss: await rssMiB(server.child.pid!), heap: await heapAfterGcMiB() };
    const rss: number[] = [];
    const heap: number[] = [];
    let seen: Record<string, string> = {};
    for (let round = 0; round < ROUNDS; round++) {
      seen = await attackRound();
      const next = await normalMs();
      expect(next, `a normal request after round ${round + 1} took ${next} ms (usual ${usual})`).toBeLessThan(Math.max(10 * usual, 1000));
      rss.push(await rssMiB(server.child.pid!));
      heap.push(await heapAfterGcMiB());
    }
    expect(alive(server)).toBe(true);
    // Judged by the heap after full collections (what the server still holds), not by RSS: freed
    // memory goes back to the OS lazily, if at all, so RSS swings by tens of MiB with the
    // allocator's timing (seen: 230, 222, 310, 266 MiB over four rounds) and cannot tell a leak
    // from garbage. A round moves 4,000+ sockets and ~120 MiB of bodies through the server: a leak
    // of even 1 % of that shows as more than a few MiB after four rounds.
    for (const [i, h] of heap.entries()) {
      expect(h, `heap after round ${i + 1}: ${h} MiB; baseline ${baseline.heap} MiB (all rounds: ${heap.join(', ')})`).toBeLessThan(baseline.heap + 8);
    }
    // RSS: only a coarse bound, far above its noise, against a gross leak the heap cannot see (buffers).
    expect(Math.max(...rss), `RSS per round ${rss.join(', ')} MiB; baseline ${baseline.rss} MiB`).toBeLessThan(baseline.rss + 250);
    console.log(
      `[hostile memory] server heap after GC: ${started.heap} MiB at start, ${baseline.heap} MiB after a warm-up round, ` +
        `${heap.join(' / ')} MiB after each of ${ROUNDS} rounds; RSS ${started.rss} → ${baseline.rss} MiB, then ${rss.join(' / ')} MiB; ` +
        `normal request ${Math.round(usual)} ms before; per round: ${Object.values(seen).join('; ')}`,
    );
  });
});
