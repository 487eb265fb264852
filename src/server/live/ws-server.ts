import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, handleProtocols } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import { Connection, type ConnectionHost, type WsHooks, type Yoga } from './ws-connection.js';

export interface GraphQLWsServer {
  /**
   * The server is stopping: an operation a client asks for from now on is not started. Its socket
   * is about to close with 1012, and graphql-ws clients send it again once they have reconnected.
   */
  beginStop(): void;
  /**
   * Resolves once every query and mutation under way has been answered and every subscription is
   * streaming (or after `timeoutMs`), then after one more turn, so that what a stream was handed
   * last (the hubs' settle()) is queued on its socket.
   */
  drain(timeoutMs: number): Promise<void>;
  /**
   * Closes every socket with 1012 Service Restart, and the WebSocket server. A subscription still
   * open gets no `complete`: it has not ended, and graphql-ws's client retries a 1012 close (not a
   * fatal code) and subscribes again, on the next server at the same address.
   */
  dispose(): Promise<void>;
}

/**
 * The close code of a stop (RFC 6455 1012 Service Restart): graphql-ws's client treats it as
 * retryable (isFatalInternalCloseCode), as browsers' and other clients' reconnect logic commonly do.
 */
export const SERVICE_RESTART = 1012;

/** How long a client may take to send `connection_init` (graphql-ws's default). */
const INIT_TIMEOUT_MS = 3000;

class WsServer implements ConnectionHost {
  /** Operations that hold a stop's drain: started, neither answered nor streaming yet. */
  private running = 0;
  stopping = false;
  private idle?: () => void;
  readonly connections = new Set<Connection>();
  private pinger?: NodeJS.Timeout;

  constructor(
    readonly yoga: Yoga,
    readonly wss: WebSocketServer,
    keepAliveMs: number,
    readonly hooks: WsHooks = {},
  ) {
    wss.options.handleProtocols = handleProtocols;
    // Connections write their frames to the TCP socket themselves (ws-frames.ts), which holds
    // only while `ws` compresses nothing: with permessage-deflate it could hold a frame back.
    wss.options.perMessageDeflate = false;
    wss.on('error', (error) => yoga.logger.error(error));
    wss.on('connection', (socket, request) => this.open(socket, request));
    if (keepAliveMs > 0 && Number.isFinite(keepAliveMs)) this.pinger = setInterval(() => this.ping(), keepAliveMs);
  }

  private open(socket: WebSocket, request: IncomingMessage): void {
    const conn = new Connection(this, socket, request.socket as Socket, request);
    // Errors here are the client's (a frame over maxPayload, bad UTF-8, a bad opcode): ws has
    // already closed with the fitting code (1009, 1007, 1002). One log line, no stack.
    socket.on('error', (error: Error & { code?: string }) => {
      this.yoga.logger.warn(`WebSocket connection refused a frame: ${error.message}`, { code: error.code });
    });
    if (socket.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      socket.close(CloseCode.SubprotocolNotAcceptable, 'Subprotocol not acceptable');
      return;
    }
    this.connections.add(conn);
    conn.initTimer = setTimeout(() => {
      if (!conn.initReceived) conn.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
    }, INIT_TIMEOUT_MS);
    socket.on('message', (data) => {
      try {
        conn.onMessage(String(data));
      } catch (error) {
        // A bug here must not take the process down with it: this socket goes, the rest stay.
        this.yoga.logger.error(error);
        conn.close(CloseCode.InternalServerError, 'Internal server error');
      }
    });
    socket.on('pong', () => {
      conn.awaitingPong = false;
    });
    socket.once('close', () => {
      this.connections.delete(conn);
      conn.closed();
    });
  }

  /** A client that has not answered the previous ping is dropped. */
  private ping(): void {
    for (const conn of this.connections) {
      if (conn.socket.readyState !== conn.socket.OPEN) continue;
      if (conn.awaitingPong) {
        conn.socket.terminate();
        continue;
      }
      conn.awaitingPong = true;
      conn.socket.ping();
    }
  }

  operationStarted(): void {
    this.running += 1;
  }

  operationSettled(): void {
    this.running -= 1;
    if (this.running === 0) this.idle?.();
  }

  async drain(timeoutMs: number): Promise<void> {
    if (this.running > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.idle = undefined;
    }
    // Results handed to the streams reach their sockets' frame queues through a few promise
    // jobs: one turn of the loop, and they (and the `complete` of a stream that ended on them)
    // are queued ahead of the close frame.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async dispose(): Promise<void> {
    clearInterval(this.pinger);
    // Frames still queued (a last state, a `complete`) go out ahead of the close frame.
    for (const conn of this.connections) conn.flush();
    // Not 1001 Going away with every operation completed first: `complete` says a subscription
    // has ended, and clients then never subscribe again, though the task runs on. 1012 says the
    // service restarts: graphql-ws's client reconnects and subscribes again by itself.
    for (const socket of this.wss.clients) socket.close(SERVICE_RESTART, 'Service Restart');
    this.wss.removeAllListeners();
    await new Promise<void>((resolve, reject) => this.wss.close((error) => (error ? reject(error) : resolve())));
  }
}

/**
 * graphql-ws (`graphql-transport-ws`) on `wss`, running operations through yoga's envelop, so
 * a subscription over WebSocket gets the same context, limits and error masking as over HTTP.
 * The protocol is served here rather than by graphql-ws's `useServer`: that one keeps an async
 * function, a promise per send and a copy of each message per subscription, and writes every
 * message with its own syscall; a change to a task with 10,000 subscribers then cost about
 * 60 µs per subscriber. Close codes and messages are graphql-ws's (its constants and parser).
 */
export function useGraphQLWs(wss: WebSocketServer, yoga: Yoga, keepAliveMs: number, hooks: WsHooks = {}): GraphQLWsServer {
  const server = new WsServer(yoga, wss, keepAliveMs, hooks);
  return {
    beginStop: () => {
      server.stopping = true;
    },
    drain: (timeoutMs) => server.drain(timeoutMs),
    dispose: () => server.dispose(),
  };
}
