import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { GRAPHQL_TRANSPORT_WS_PROTOCOL } from 'graphql-ws';
import WebSocket from 'ws';
import type { Logger } from '../logger.js';

/**
 * A starting server's warm-up (SERVER_WARM_UP_MS; docs/operations.md "Warm-up"): before `/readyz`
 * says ready, the server subscribes to itself over real graphql-ws sockets on its own listener, as
 * the clients of a server that went away do when they resume here: `taskEvents(afterVersion: 0)` on
 * the newest tasks and `taskEventFeed` from a cursor shortly before the end, each ended at its
 * first event.
 *
 * Why: a process that has served nothing starts its first subscriptions on code V8 has not
 * compiled yet, and statements its pooled connections have not prepared. In the event-log bench a
 * standby that had served such a storm before took over in 0.7–1.1 s where a fresh one took
 * 1.0–1.4 s, and delivered the whole run at p99 34–51 ms where a fresh one did 44–71 (bench/README.md
 * "A warm standby"). The warm-up gives every restarted server that start. It reads and writes
 * nothing a client sees: its subscriptions are its own, and it enqueues nothing.
 */

/** The client end (address, port) of a socket, as the server sees it as the peer; `::ffff:` dropped, as IPv4 on a dual-stack listener shows it. */
function endKey(address: string, port: number): string {
  return `${address.startsWith('::ffff:') ? address.slice(7) : address}|${port}`;
}

/**
 * The sockets a warm-up opened to its own server, by their client ends. With AUTH_MODE=on they carry
 * no credential: the server lets a connection in as itself when its TCP peer is one of these ends
 * (authentication.ts). Nobody else can come from one: an end is registered only once the warm-up's
 * own socket is connected from it (no other socket can then have the same address, port and
 * destination), and unregistered when that socket closes.
 */
export class OwnSockets {
  private readonly ends = new Set<string>();

  add(address: string, port: number): () => void {
    const key = endKey(address, port);
    this.ends.add(key);
    return () => void this.ends.delete(key);
  }

  /** Whether `request` (an upgrade) came over one of the warm-up's sockets. */
  owns(request: IncomingMessage): boolean {
    if (this.ends.size === 0) return false;
    const { remoteAddress, remotePort } = request.socket;
    return remoteAddress !== undefined && remotePort !== undefined && this.ends.has(endKey(remoteAddress, remotePort));
  }
}

export interface WarmUpOptions {
  /** ws:// URL of the server's own GraphQL endpoint, on an address it listens on. */
  url: string;
  own: OwnSockets;
  /** Longest the warm-up takes, in ms: then it ends where it is, and the server is ready. */
  timeoutMs: number;
  log: Logger;
  /** Rounds of subscriptions (default 3): V8 optimises what runs again and again, not once. */
  rounds?: number;
  /** Sockets per round (default 20), each subscribing to every one of the newest tasks. */
  sockets?: number;
  /** How many of the newest tasks (default 20; at most 100, `tasks`' page). */
  tasks?: number;
  /** Sockets per round following the feed (default 5). */
  feeds?: number;
}

export interface WarmUpReport {
  /** Subscriptions started, over every round. */
  subscriptions: number;
  /** Those that had their first event (or ended, or were refused) before the warm-up ended. */
  answered: number;
  rounds: number;
  ms: number;
  /** Why it ended early (a timeout, the server stopping, a refused socket, the database away); undefined: it did all its rounds. */
  stoppedBy?: string;
}

/** The newest tasks and, for the feed, the position of the oldest one's first event. */
const TASKS = /* GraphQL */ `
  query TaskwireWarmUpTasks($first: Int!) { tasks(first: $first) { edges { node { id events(first: 1) { edges { node { cursor } } } } } } }`;
const TASK_EVENTS = /* GraphQL */ `
  subscription TaskwireWarmUpTaskEvents($id: ID!) { taskEvents(id: $id, afterVersion: 0) { taskId version type status at attempt workerId cursor } }`;
const FEED = /* GraphQL */ `
  subscription TaskwireWarmUpFeed($after: String) { taskEventFeed(after: $after) { taskId version type status at attempt workerId cursor } }`;

interface Message {
  id?: string;
  type: string;
  payload?: unknown;
}

/** One graphql-transport-ws socket of the warm-up: each operation resolves at its first message (next, error or complete). */
class LoopbackSocket {
  private readonly socket: WebSocket;
  private readonly waiting = new Map<string, (message: Message) => void>();
  private nextId = 0;
  private unregister: (() => void) | undefined;
  readonly ready: Promise<void>;

  constructor(url: string, own: OwnSockets, stop: Promise<never>) {
    this.socket = new WebSocket(url, GRAPHQL_TRANSPORT_WS_PROTOCOL, { perMessageDeflate: false });
    // The end is ours once the TCP connection stands, before the upgrade's answer and before
    // `connection_init`, which is when the server looks at it.
    this.socket.once('upgrade', (response) => {
      const { localAddress, localPort } = response.socket;
      if (localAddress !== undefined && localPort !== undefined) this.unregister = own.add(localAddress, localPort);
    });
    const acknowledged = new Promise<void>((resolve, reject) => {
      this.socket.once('open', () => this.send({ type: 'connection_init', payload: {} }));
      this.socket.on('message', (data) => {
        let message: Message;
        try {
          message = JSON.parse(String(data)) as Message;
        } catch {
          return;
        }
        if (message.type === 'connection_ack') return resolve();
        if (message.type === 'ping') return this.send({ type: 'pong' });
        if (message.id !== undefined) this.waiting.get(message.id)?.(message);
      });
      this.socket.once('close', (code, reason) => {
        this.unregister?.();
        const closed = new Error(`its socket was closed (${code}${reason.length > 0 ? ` ${String(reason)}` : ''})`);
        reject(closed);
        for (const settle of this.waiting.values()) settle({ type: 'error', payload: closed.message });
        this.waiting.clear();
      });
      // `on`, not `once`: a socket closed while connecting emits an error, and a second would throw.
      this.socket.on('error', reject);
    });
    this.ready = Promise.race([acknowledged, stop]);
    this.ready.catch(() => undefined);
  }

  private send(message: Message): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  /** Runs `query` and resolves with its first message; a subscription is then completed. */
  first(query: string, variables: Record<string, unknown>): Promise<Message> {
    const id = String(++this.nextId);
    return new Promise<Message>((resolve) => {
      this.waiting.set(id, (message) => {
        this.waiting.delete(id);
        if (message.type === 'next') this.send({ id, type: 'complete' });
        resolve(message);
      });
      this.send({ id, type: 'subscribe', payload: { query, variables } });
    });
  }

  close(): void {
    this.socket.close(1000, 'warm-up done');
  }

  /** Resolves once the socket is closed (and its end unregistered). */
  closed(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
}

interface Targets {
  ids: string[];
  /** The oldest of those tasks' ENQUEUED, as a feed cursor. */
  feedAfter: string | undefined;
}

function targetsOf(message: Message): Targets {
  if (message.type !== 'next') throw new Error(`the newest tasks could not be read: ${JSON.stringify(message.payload)}`);
  const result = message.payload as { data?: { tasks?: { edges: { node: { id: string; events: { edges: { node: { cursor: string } }[] } } }[] } }; errors?: unknown };
  const edges = result.data?.tasks?.edges;
  if (!edges) throw new Error(`the newest tasks could not be read: ${JSON.stringify(result.errors)}`);
  return { ids: edges.map((e) => e.node.id), feedAfter: edges.at(-1)?.node.events.edges[0]?.node.cursor };
}

/**
 * Runs the warm-up against the server at `o.url`; never throws. Ends early (its report says why)
 * at the deadline, when `signal` aborts (the server stops), or when something refuses it; the
 * sockets it opened are closed before it resolves.
 */
export async function warmUp(o: WarmUpOptions, signal: AbortSignal): Promise<WarmUpReport> {
  const started = performance.now();
  const rounds = o.rounds ?? 3;
  const report: WarmUpReport = { subscriptions: 0, answered: 0, rounds: 0, ms: 0 };
  const open = new Set<LoopbackSocket>();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the deadline (${o.timeoutMs} ms)`)), o.timeoutMs);
    onAbort = () => reject(new Error('the server is stopping'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  stop.catch(() => undefined);
  const connect = async (): Promise<LoopbackSocket> => {
    const socket = new LoopbackSocket(o.url, o.own, stop);
    open.add(socket);
    await socket.ready;
    return socket;
  };
  const counted = async (socket: LoopbackSocket, query: string, variables: Record<string, unknown>): Promise<void> => {
    report.subscriptions++;
    await socket.first(query, variables);
    report.answered++;
  };
  try {
    const first = await connect();
    const targets = targetsOf(await Promise.race([first.first(TASKS, { first: Math.min(o.tasks ?? 20, 100) }), stop]));
    first.close();
    if (targets.ids.length === 0) {
      report.stoppedBy = 'no tasks yet';
    } else {
      for (let round = 0; round < rounds; round++) {
        const work: Promise<void>[] = [];
        for (let s = 0; s < (o.sockets ?? 20); s++) {
          work.push(connect().then((socket) => Promise.all(targets.ids.map((id) => counted(socket, TASK_EVENTS, { id }))).then(() => socket.close())));
        }
        for (let f = 0; targets.feedAfter !== undefined && f < (o.feeds ?? 5); f++) {
          work.push(connect().then((socket) => counted(socket, FEED, { after: targets.feedAfter }).then(() => socket.close())));
        }
        await Promise.race([Promise.all(work), stop]);
        report.rounds++;
      }
    }
  } catch (error) {
    report.stoppedBy = error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
    for (const socket of open) socket.close();
    await Promise.all([...open].map((socket) => socket.closed()));
  }
  report.ms = Math.round(performance.now() - started);
  const line = `warm-up: ${report.answered} of ${report.subscriptions} subscriptions answered in ${report.rounds} rounds, ${report.ms} ms`;
  if (report.stoppedBy === undefined || report.stoppedBy === 'no tasks yet') o.log.info({ ...report }, report.stoppedBy ? `warm-up: ${report.stoppedBy}, nothing to warm up on` : line);
  else o.log.warn({ ...report }, `${line}; ended early: ${report.stoppedBy}`);
  return report;
}
