import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, handleProtocols } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import { Connection, type ConnectionHost, type WsHooks, type Yoga } from './ws-connection.js';

export interface GraphQLWsServer {
  /** Resolves once every running operation has sent its `complete` (or after `timeoutMs`). */
  drain(timeoutMs: number): Promise<void>;
  /** Closes every socket (1001 Going away) and the WebSocket server. */
  dispose(): Promise<void>;
}

/** How long a client may take to send `connection_init` (graphql-ws's default). */
const INIT_TIMEOUT_MS = 3000;

class WsServer implements ConnectionHost {
  private running = 0;
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

  operationEnded(): void {
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
    // Frames are queued until the next tick: one turn of the loop, and every `complete` is
    // written ahead of the close frame.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async dispose(): Promise<void> {
    clearInterval(this.pinger);
    // Frames still queued (a `complete`) go out ahead of the close frame.
    for (const conn of this.connections) conn.flush();
    for (const socket of this.wss.clients) socket.close(1001, 'Going away');
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
    drain: (timeoutMs) => server.drain(timeoutMs),
    dispose: () => server.dispose(),
  };
}
