import type { SubscriptionClient } from './lean-ws.js';
import { wallNow } from './resumable-ws.js';
import { Samples } from './stats.js';
import { toError } from './ws-client.js';

/**
 * ENQUEUED rides along only as a barrier: its replay proves the subscription is registered
 * before the worker starts, so no chunk is timed from before its subscriber existed. The OUTPUT
 * path (and the type filter, which drops STARTED and SUCCEEDED) is the same either way.
 */
const OUTPUT_EVENTS = /* GraphQL */ `
  subscription Output($id: ID!, $types: [TaskEventType!]) { taskEvents(id: $id, afterVersion: 0, types: $types) { version type at output } }`;

interface OutputEvent {
  version: number;
  type: string;
  /** clock_timestamp() of the statement that stored the chunk, ms precision. */
  at: string;
  output: { i: number; t: number } | null;
}

/** One subscriber's view of the stream: what it got, and whether it came whole and in order. */
export interface Reader {
  enqueued: boolean;
  /** (version, i, t) of every chunk, when kept (the first subscriber and the late reader). */
  chunks: number[] | undefined;
  received: number;
  /** Chunks whose `i` or version was not the next one. */
  outOfOrder: number;
  lastVersion: number;
  done: Promise<void>;
  error?: Error;
}

/** Latency of the chunks, whole and split at the statement that stored them. */
export interface ChunkLatency {
  /** Handler's ctx.output → the subscriber has it. */
  total: Samples;
  /** Handler's ctx.output → the statement storing it (the worker's share: batching, the statement ahead of it). */
  toStored: Samples;
  /** The statement storing it → the subscriber has it (commit, NOTIFY, the server's read and fan-out, the socket). */
  fromStored: Samples;
  /** Wall-clock ms of the last chunk any subscriber received. */
  lastReceived: number;
}

export function newChunkLatency(): ChunkLatency {
  return { total: new Samples(), toStored: new Samples(), fromStored: new Samples(), lastReceived: 0 };
}

/**
 * Subscribes `client` to task `id`'s output (`taskEvents(afterVersion: 0, types)`), checking every
 * chunk's order; with `latency`, times each chunk received (same host clock as the writer's `t`).
 */
export function readOutput(client: SubscriptionClient, id: string, types: string[], keep: boolean, latency: ChunkLatency | undefined): Reader {
  const r: Reader = { enqueued: false, chunks: keep ? [] : undefined, received: 0, outOfOrder: 0, lastVersion: 0, done: Promise.resolve() };
  r.done = new Promise<void>((resolve, reject) => {
    client.subscribe(
      { query: OUTPUT_EVENTS, variables: { id, types } },
      {
        next: (result) => {
          const e = result.data?.taskEvents as OutputEvent | undefined;
          if (result.errors || !e) return reject(new Error(`output subscription: ${JSON.stringify(result.errors ?? result)}`));
          const now = wallNow();
          if (e.version <= r.lastVersion) r.outOfOrder += 1;
          r.lastVersion = e.version;
          if (e.type === 'ENQUEUED') r.enqueued = true;
          if (e.type !== 'OUTPUT' || !e.output) return;
          r.received += 1;
          if (e.output.i !== r.received) r.outOfOrder += 1;
          if (latency) {
            const at = Date.parse(e.at);
            latency.total.add(now - e.output.t);
            latency.toStored.add(at - e.output.t);
            latency.fromStored.add(now - at);
            latency.lastReceived = now;
          }
          r.chunks?.push(e.version, e.output.i, e.output.t);
        },
        error: (error) => reject(toError(error)),
        complete: () => resolve(),
      },
    );
  });
  // Awaited later; kept now, so an early failure neither ends the process first nor waits out a timeout.
  r.done.catch((error: unknown) => {
    r.error = toError(error);
  });
  return r;
}
