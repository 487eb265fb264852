/**
 * Some of (j)'s output subscribers in a process of their own (bench/scenarios/output-stream.ts):
 * `node --import tsx bench/lib/output-readers-child.ts`, forked with `serialization: 'advanced'`
 * (the latency samples travel as Float64Arrays). It sends 'ready' once loaded, then:
 * - 'subscribe' {url, id, count, keepFirst}: opens `count` graphql-ws connections, each subscribed
 *   to the task's output as in (j), and answers 'subscribed' once every one has replayed ENQUEUED.
 *   When every stream has ended it closes them and sends 'done' with each subscriber's count and order check, the
 *   first one's chunks when `keepFirst`, the latency samples and its event loop's delay since 'start'.
 * - 'start': the stream is about to begin (the loop delay is measured from here).
 * - 'exit': closes any connection still open and exits.
 */
import { errorText } from './child-ipc.js';
import type { SubscriptionClient } from './lean-ws.js';
import { watchLoopDelay, type LoopDelay } from './loop-delay.js';
import { newChunkLatency, readOutput, type Reader } from './output-readers.js';
import { benchWsClient } from './resumable-ws.js';
import { range, waitUntil } from './wait.js';

export type OutputReadersRequest =
  | { type: 'subscribe'; url: string; id: string; count: number; keepFirst: boolean }
  | { type: 'start' }
  | { type: 'exit' };

export interface OutputReadersDone {
  type: 'done';
  received: number[];
  outOfOrder: number[];
  /** (version, i, t) of every chunk the first subscriber got, when asked to keep them. */
  chunks: number[] | null;
  total: Float64Array;
  toStored: Float64Array;
  fromStored: Float64Array;
  lastReceived: number;
  loopDelay: { p50: number; p99: number; max: number };
}

export type OutputReadersReply = { type: 'ready' } | { type: 'subscribed' } | OutputReadersDone | { type: 'error'; error: string };

const send = (reply: OutputReadersReply): void => {
  process.send?.(reply);
};

/** Connections of the stream under way (closed once it ended, so the warm-up's do not idle on the server through the measured one). */
const clients = new Set<SubscriptionClient>();
let loop: LoopDelay | undefined;

async function subscribe(r: Extract<OutputReadersRequest, { type: 'subscribe' }>): Promise<void> {
  const latency = newChunkLatency();
  const mine = range(0, r.count).map(() => benchWsClient(r.url));
  for (const client of mine) clients.add(client);
  const readers: Reader[] = mine.map((client, i) => readOutput(client, r.id, ['ENQUEUED', 'OUTPUT'], r.keepFirst && i === 0, latency));
  const failed = (): Error | undefined => readers.find((x) => x.error)?.error;
  await waitUntil(
    () => {
      const error = failed();
      if (error) throw error;
      return readers.every((x) => x.enqueued);
    },
    { timeoutMs: 60_000, what: 'every output subscription of this process to replay ENQUEUED' },
  );
  send({ type: 'subscribed' });
  await Promise.all(readers.map((x) => x.done));
  const loopDelay = stopLoop();
  await Promise.allSettled(mine.map((c) => c.dispose()));
  for (const client of mine) clients.delete(client);
  send({
    type: 'done',
    received: readers.map((x) => x.received),
    outOfOrder: readers.map((x) => x.outOfOrder),
    chunks: readers[0]?.chunks ?? null,
    total: latency.total.values(),
    toStored: latency.toStored.values(),
    fromStored: latency.fromStored.values(),
    lastReceived: latency.lastReceived,
    loopDelay,
  });
}

/** The loop's delay since 'start' (since now, if none came), and a fresh watch for the next stream. */
function stopLoop(): { p50: number; p99: number; max: number } {
  const delay = (loop ?? watchLoopDelay()).stop();
  loop = undefined;
  return delay;
}

process.on('message', (raw) => {
  const request = raw as OutputReadersRequest;
  if (request.type === 'subscribe') subscribe(request).catch((error: unknown) => send({ type: 'error', error: errorText(error) }));
  else if (request.type === 'start') loop = watchLoopDelay();
  else {
    void Promise.allSettled([...clients].map((c) => c.dispose())).then(() => process.exit(0));
  }
});
send({ type: 'ready' });
