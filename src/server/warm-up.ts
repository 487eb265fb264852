import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
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
 * compiled yet, and statements its pooled connections have not prepared; after a restart that is
 * when every client of the server that went away resumes on it at once. In the event-log bench
 * below saturation, a standby that had warmed up so acknowledged the resuming connections in half
 * the time and delivered the whole run at p99 48–69 ms where one that had served nothing did 67–189
 * (bench/README.md "The server's warm-up"). It reads and writes nothing a client sees: its
 * subscriptions are its own, and it enqueues nothing.
 */

/** The connectionParams key that carries a warm-up's secret (OwnSockets). */
export const WARM_UP_PARAM = 'taskwireWarmUp';

/** An address as both ends of a loopback connection show it (`::ffff:` dropped, as on a dual-stack listener). */
const plain = (address: string | undefined): string => (address?.startsWith('::ffff:') ? address.slice(7) : (address ?? ''));

/** A TCP connection by its four parts: the client's address and port, the server's address and port. */
const connectionKey = (client: string | undefined, clientPort: number | undefined, server: string | undefined, serverPort: number | undefined): string =>
  `${plain(client)}|${clientPort}|${plain(server)}|${serverPort}`;

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The sockets of the warm-up under way. With AUTH_MODE=on they carry no credential: the server lets
 * a connection in as itself (authentication.ts) only when both hold:
 * - its `connection_init` carries this warm-up's secret (WARM_UP_PARAM): 32 random bytes made when
 *   the warm-up begins, dropped when it ends, never sent anywhere but over the warm-up's own
 *   loopback sockets to this process;
 * - it is one of the warm-up's own TCP connections, by all four parts (registered once the socket
 *   is connected, forgotten when it closes). Not by the client's end alone: the kernel lets another
 *   connection leave from the same address and port towards another local address (127.0.0.2 to a
 *   server on 0.0.0.0), which a tester used to pass as the warm-up while it ran.
 */
export class OwnSockets {
  private secret: Buffer | undefined;
  private readonly connections = new Set<string>();

  /** A warm-up begins: its secret, to send in `connection_init`. */
  start(): string {
    const secret = randomBytes(32).toString('base64url');
    this.secret = digest(secret);
    return secret;
  }

  /** The warm-up has ended: nothing passes as it any more. */
  end(): void {
    this.secret = undefined;
    this.connections.clear();
  }

  /** A warm-up socket, connected: `socket` is its TCP socket, seen from the client's side. */
  add(socket: Socket): () => void {
    const key = connectionKey(socket.localAddress, socket.localPort, socket.remoteAddress, socket.remotePort);
    this.connections.add(key);
    return () => void this.connections.delete(key);
  }

  /** Whether `request` (an upgrade) with these connectionParams is one of the warm-up's own connections. */
  owns(request: IncomingMessage, connectionParams: Record<string, unknown> | undefined): boolean {
    const secret = this.secret;
    const offered = connectionParams?.[WARM_UP_PARAM];
    if (secret === undefined || typeof offered !== 'string') return false;
    const { remoteAddress, remotePort, localAddress, localPort } = request.socket;
    // Digests: the comparison takes the same time whatever the guess.
    return timingSafeEqual(digest(offered), secret) && this.connections.has(connectionKey(remoteAddress, remotePort, localAddress, localPort));
  }
}

export interface WarmUpOptions {
  /** ws:// URL of the server's own GraphQL endpoint, on an address it listens on. */
  url: string;
  own: OwnSockets;
  /** Longest the warm-up takes, in ms: then it ends where it is, and the server is ready. */
  timeoutMs: number;
  log: Logger;
}

export interface WarmUpReport {
  /** Subscriptions started, over every round. */
  subscriptions: number;
  /** Those the server answered (their first event, an error, or their end) within ANSWER_BOUND_MS and before the warm-up ended. */
  answered: number;
  rounds: number;
  ms: number;
  /** Why it ended early (a timeout, the server stopping, a refused socket, the database away); undefined: it did all its rounds. */
  stoppedBy?: string;
}

/** The newest tasks, how many events each has, and the position of each one's first event. */
const TASKS = /* GraphQL */ `
  query TaskwireWarmUpTasks($first: Int!) { tasks(first: $first) { edges { node { id version events(first: 1) { edges { node { cursor } } } } } } }`;
const TASK_EVENTS = /* GraphQL */ `
  subscription TaskwireWarmUpTaskEvents($id: ID!) { taskEvents(id: $id, afterVersion: 0) { taskId version type status at attempt workerId cursor } }`;
const FEED = /* GraphQL */ `
  subscription TaskwireWarmUpFeed($after: String) { taskEventFeed(after: $after) { taskId version type status at attempt workerId cursor } }`;

/** Rounds of subscriptions: V8 optimises what runs again and again, not once. */
const ROUNDS = 3;
/** Sockets a round, each subscribing to every one of the newest tasks. */
const SOCKETS = 20;
/** How many of the newest tasks. */
const TASK_COUNT = 20;
/** Sockets a round following the feed. */
const FEEDS = 5;

/**
 * The longest a subscription of the warm-up waits for its first event, in ms: then it is ended
 * unanswered, so that one that gets none (a feed held back by an open transaction) does not hold
 * the round, and the server's readiness, until the deadline.
 */
const ANSWER_BOUND_MS = 2000;

interface Message {
  id?: string;
  type: string;
  payload?: unknown;
}

/** What `first` resolves with when the server sent nothing for the operation: its socket closed, or the bound passed. */
const CLOSED: Message = { type: 'closed' };
const UNANSWERED: Message = { type: 'unanswered' };

/** Whether the server answered: a `next`, an `error` or a `complete` of its own. */
const answered = (message: Message): boolean => message !== CLOSED && message !== UNANSWERED;

/** One graphql-transport-ws socket of the warm-up: each operation resolves at its first message (next, error or complete). */
class LoopbackSocket {
  private readonly socket: WebSocket;
  private readonly waiting = new Map<string, (message: Message) => void>();
  private nextId = 0;
  private unregister: (() => void) | undefined;
  readonly ready: Promise<void>;

  constructor(url: string, own: OwnSockets, secret: string, stop: Promise<never>) {
    this.socket = new WebSocket(url, GRAPHQL_TRANSPORT_WS_PROTOCOL, { perMessageDeflate: false });
    // Registered once the TCP connection stands (the upgrade's answer), before `connection_init`,
    // which is when the server looks at it.
    this.socket.once('upgrade', (response) => {
      this.unregister = own.add(response.socket);
    });
    const acknowledged = new Promise<void>((resolve, reject) => {
      this.socket.once('open', () => this.send({ type: 'connection_init', payload: { [WARM_UP_PARAM]: secret } }));
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
        reject(new Error(`its socket was closed (${code}${reason.length > 0 ? ` ${String(reason)}` : ''})`));
        for (const settle of this.waiting.values()) settle(CLOSED);
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

  /**
   * Runs `query` and resolves with its first message; a subscription is then completed. After
   * `boundMs` without one it is completed all the same, and resolves with UNANSWERED.
   */
  first(query: string, variables: Record<string, unknown>, boundMs = ANSWER_BOUND_MS): Promise<Message> {
    const id = String(++this.nextId);
    return new Promise<Message>((resolve) => {
      const timer = setTimeout(() => settle(UNANSWERED), boundMs);
      const settle = (message: Message): void => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (message.type === 'next' || message === UNANSWERED) this.send({ id, type: 'complete' });
        resolve(message);
      };
      this.waiting.set(id, settle);
      this.send({ id, type: 'subscribe', payload: { query, variables } });
    });
  }

  close(): void {
    this.socket.close(1000, 'warm-up done');
  }

  /** Resolves once the socket is closed (and its connection unregistered). */
  closed(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
}

interface Targets {
  ids: string[];
  /**
   * The oldest of those tasks' ENQUEUED, as a feed cursor; undefined when those tasks have no other
   * event (a lone pending task): a feed from there would have nothing to send.
   */
  feedAfter: string | undefined;
}

type TaskNode = { id: string; version: number; events: { edges: { node: { cursor: string } }[] } };

function targetsOf(message: Message): Targets {
  if (message.type !== 'next') throw new Error(`the newest tasks could not be read: ${message.type === 'error' ? JSON.stringify(message.payload) : message.type}`);
  const result = message.payload as { data?: { tasks?: { edges: { node: TaskNode }[] } }; errors?: unknown };
  const nodes = result.data?.tasks?.edges.map((e) => e.node);
  if (!nodes) throw new Error(`the newest tasks could not be read: ${JSON.stringify(result.errors)}`);
  const events = nodes.reduce((sum, node) => sum + node.version, 0);
  return { ids: nodes.map((node) => node.id), feedAfter: events > 1 ? nodes.at(-1)?.events.edges[0]?.node.cursor : undefined };
}

/**
 * Runs the warm-up against the server at `o.url`; never throws. Ends early (its report says why)
 * at the deadline, when `signal` aborts (the server stops), or when something refuses it; the
 * sockets it opened are closed before it resolves, and nothing passes as it afterwards.
 */
export async function warmUp(o: WarmUpOptions, signal: AbortSignal): Promise<WarmUpReport> {
  const started = performance.now();
  const report: WarmUpReport = { subscriptions: 0, answered: 0, rounds: 0, ms: 0 };
  const open = new Set<LoopbackSocket>();
  const secret = o.own.start();
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
    const socket = new LoopbackSocket(o.url, o.own, secret, stop);
    open.add(socket);
    await socket.ready;
    return socket;
  };
  const counted = async (socket: LoopbackSocket, query: string, variables: Record<string, unknown>): Promise<void> => {
    report.subscriptions++;
    if (answered(await socket.first(query, variables))) report.answered++;
  };
  try {
    const first = await connect();
    const targets = targetsOf(await Promise.race([first.first(TASKS, { first: TASK_COUNT }, o.timeoutMs), stop]));
    first.close();
    if (targets.ids.length === 0) {
      report.stoppedBy = 'no tasks yet';
    } else {
      for (let round = 0; round < ROUNDS; round++) {
        const work: Promise<void>[] = [];
        for (let s = 0; s < SOCKETS; s++) {
          work.push(connect().then((socket) => Promise.all(targets.ids.map((id) => counted(socket, TASK_EVENTS, { id }))).then(() => socket.close())));
        }
        for (let f = 0; targets.feedAfter !== undefined && f < FEEDS; f++) {
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
    o.own.end();
    for (const socket of open) socket.close();
    await Promise.all([...open].map((socket) => socket.closed()));
  }
  report.ms = Math.round(performance.now() - started);
  const line = `warm-up: ${report.answered} of ${report.subscriptions} subscriptions answered in ${report.rounds} rounds, ${report.ms} ms`;
  if (report.stoppedBy === undefined || report.stoppedBy === 'no tasks yet') o.log.info({ ...report }, report.stoppedBy ? `warm-up: ${report.stoppedBy}, nothing to warm up on` : line);
  else o.log.warn({ ...report }, `${line}; ended early: ${report.stoppedBy}`);
  return report;
}
