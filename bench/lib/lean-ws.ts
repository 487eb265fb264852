import { isAscii, isUtf8 } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { FrameReader, maskedFrame, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT } from './ws-frame-reader.js';

/**
 * A graphql-ws (`graphql-transport-ws`) client over a raw TCP socket, for the event-log
 * scenarios (i, j), whose 100 subscribers receive up to 200,000 messages a second in the
 * harness's one process. It does a client's whole job — the HTTP upgrade with the accept key
 * checked, every WebSocket frame parsed (fragments, control frames, close codes), every text
 * message checked as UTF-8 and `JSON.parse`d, every message checked against the protocol (type,
 * the id of an operation this client started, the payload's shape) — without `ws`'s and
 * graphql-ws's per-message layers (event emitters, per-frame Buffers, a closure per sink): see
 * bench/README.md, "The event log (i, j)". Plain ws:// only; no extensions (permessage-deflate
 * is not offered).
 */

/** What a subscription's sink gets: an execution result, or the end. */
export interface LeanSink {
  next(result: { data?: Record<string, unknown> | null; errors?: unknown[] }): void;
  /** A GraphQL `error` message (its payload), a protocol violation (an Error), or the socket closing ({code, reason}). */
  error(error: unknown): void;
  complete(): void;
}

/** The part of graphql-ws's `Client` the scenarios use. */
export interface SubscriptionClient {
  subscribe(payload: { query: string; variables?: Record<string, unknown> }, sink: LeanSink): () => void;
  on(event: 'closed', listener: (close: { code: number; reason: string }) => void): void;
  dispose(): Promise<void>;
  /** Wall-clock ms of the server's `connection_ack` (the lean client's; graphql-ws's client does not say). */
  readonly ackedAt?: number | undefined;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const PROTOCOL = 'graphql-transport-ws';
/** Each client's read buffer: a socket read takes at most this much. */
const READ_BUFFER_BYTES = 64 * 1024;

interface Operation {
  sink: LeanSink;
  /** The subscribe message, until it is sent (after connection_ack). */
  pending: string | undefined;
}

class LeanClient implements SubscriptionClient {
  private readonly socket: Socket;
  private readonly reader = new FrameReader();
  private readonly ops = new Map<string, Operation>();
  /** Ids this client completed itself: the server may still send a few messages for them. */
  private readonly cancelled = new Set<string>();
  private readonly closedListeners: ((close: { code: number; reason: string }) => void)[] = [];
  private nextId = 1;
  private upgraded = false;
  private acked = false;
  ackedAt: number | undefined;
  private closed: { code: number; reason: string } | undefined;
  private head: Buffer = Buffer.alloc(0);
  private readonly key = randomBytes(16).toString('base64');

  constructor(url: URL, private readonly connectionParams: Record<string, unknown> | undefined) {
    // `onread`: every read lands in this client's own buffer and comes straight to onRead, without
    // a Buffer per read and the readable stream's push/emit (the frame reader copies what it keeps).
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    this.socket = connect({
      host: url.hostname,
      port: Number(url.port || 80),
      noDelay: true,
      onread: { buffer: readBuffer, callback: (n) => this.onRead(readBuffer.subarray(0, n)) },
    });
    this.socket.on('connect', () => {
      this.socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${PROTOCOL}\r\n\r\n`,
      );
    });
    this.socket.on('error', () => this.onClosed(1006, 'socket error'));
    this.socket.on('close', () => this.onClosed(1006, ''));
  }

  subscribe(payload: { query: string; variables?: Record<string, unknown> }, sink: LeanSink): () => void {
    const id = String(this.nextId++);
    if (this.closed) {
      sink.error(this.closed);
      return () => undefined;
    }
    const message = JSON.stringify({ id, type: 'subscribe', payload });
    const op: Operation = { sink, pending: this.acked ? undefined : message };
    this.ops.set(id, op);
    if (this.acked) this.send(message);
    return () => {
      if (!this.ops.delete(id)) return;
      this.cancelled.add(id);
      if (op.pending === undefined && !this.closed) this.send(JSON.stringify({ id, type: 'complete' }));
    };
  }

  on(_event: 'closed', listener: (close: { code: number; reason: string }) => void): void {
    this.closedListeners.push(listener);
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    if (this.upgraded) this.socket.write(maskedFrame(OP_CLOSE, closePayload(1000, 'Normal Closure')));
    this.socket.end();
    this.onClosed(1000, 'Normal Closure');
  }

  private send(text: string): void {
    this.socket.write(maskedFrame(OP_TEXT, Buffer.from(text)));
  }

  /** One read, a view of the read buffer (reused by the next read): whatever is kept is copied. */
  private onRead(chunk: Buffer): boolean {
    if (this.closed) return false;
    if (!this.upgraded) {
      this.head = Buffer.concat([this.head, chunk]);
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return true;
      const problem = this.checkUpgrade(this.head.toString('latin1', 0, end));
      if (problem) return this.protocolError(problem);
      this.upgraded = true;
      const rest = this.head.subarray(end + 4);
      this.head = Buffer.alloc(0);
      this.send(JSON.stringify(this.connectionParams ? { type: 'connection_init', payload: this.connectionParams } : { type: 'connection_init' }));
      if (rest.length === 0) return true;
      chunk = rest;
    }
    const error = this.reader.push(chunk, (opcode, payload) => this.onFrame(opcode, payload));
    if (error) return this.protocolError(error);
    return true;
  }

  /** The server's 101 answer: status, the accept key for our key, the subprotocol. */
  private checkUpgrade(head: string): string | undefined {
    const [status, ...lines] = head.split('\r\n');
    if (!/^HTTP\/1\.1 101 /.test(status ?? '')) return `the upgrade was answered ${status}`;
    const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const accept = createHash('sha1').update(this.key + GUID).digest('base64');
    if (headers.get('sec-websocket-accept') !== accept) return 'wrong Sec-WebSocket-Accept';
    if (headers.get('sec-websocket-protocol') !== PROTOCOL) return `subprotocol ${headers.get('sec-websocket-protocol')}`;
    if (headers.has('sec-websocket-extensions')) return 'an extension the client did not offer';
    return undefined;
  }

  /** One whole message or control frame. Returns false to stop reading (the socket is closing). */
  private onFrame(opcode: number, payload: Buffer): boolean {
    if (opcode === OP_TEXT) {
      // ASCII (what the server sends for these events) decodes as latin1 at memcpy speed; anything else must be valid UTF-8.
      let text: string;
      if (isAscii(payload)) text = payload.toString('latin1');
      else if (isUtf8(payload)) text = payload.toString('utf8');
      else return this.protocolError('a text frame that is not UTF-8', 1007);
      return this.onMessage(text);
    }
    if (opcode === OP_PING) {
      this.socket.write(maskedFrame(OP_PONG, payload));
      return true;
    }
    if (opcode === OP_PONG) return true;
    if (opcode === OP_CLOSE) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.toString('utf8', 2) : '';
      this.socket.write(maskedFrame(OP_CLOSE, payload.subarray(0, 2)));
      this.socket.end();
      this.onClosed(code, reason);
      return false;
    }
    return this.protocolError(`a binary frame (opcode ${opcode}) on a graphql-ws socket`);
  }

  private onMessage(text: string): boolean {
    let m: { type?: unknown; id?: unknown; payload?: unknown };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return this.protocolError('a message that is not JSON', 4400);
    }
    if (typeof m !== 'object' || m === null) return this.protocolError('a message that is not an object', 4400);
    switch (m.type) {
      case 'next':
      case 'error':
      case 'complete': {
        if (typeof m.id !== 'string') return this.protocolError(`a ${m.type} without an id`, 4400);
        const op = this.ops.get(m.id);
        if (!op) {
          if (this.cancelled.has(m.id)) return true;
          return this.protocolError(`a ${m.type} for operation ${m.id}, which this client did not start`, 4400);
        }
        if (m.type === 'next') {
          if (typeof m.payload !== 'object' || m.payload === null) return this.protocolError('a next without a result', 4400);
          op.sink.next(m.payload as { data?: Record<string, unknown> | null; errors?: unknown[] });
        } else {
          this.ops.delete(m.id);
          if (m.type === 'complete') op.sink.complete();
          else if (!Array.isArray(m.payload)) return this.protocolError('an error whose payload is not a list', 4400);
          else op.sink.error(m.payload);
        }
        return true;
      }
      case 'connection_ack':
        if (this.acked) return this.protocolError('a second connection_ack', 4400);
        this.acked = true;
        this.ackedAt = performance.timeOrigin + performance.now();
        for (const op of this.ops.values()) {
          if (op.pending !== undefined) this.send(op.pending);
          op.pending = undefined;
        }
        return true;
      case 'ping':
        this.send('{"type":"pong"}');
        return true;
      case 'pong':
        return true;
      default:
        return this.protocolError(`a message of type ${String(m.type)}`, 4400);
    }
  }

  /** The server broke the protocol: close as graphql-ws's client would, and fail every open operation. */
  private protocolError(what: string, code = 1002): false {
    const error = new Error(`graphql-ws protocol error: ${what}`);
    const ops = [...this.ops.values()];
    this.ops.clear();
    if (this.upgraded && !this.closed) this.socket.write(maskedFrame(OP_CLOSE, closePayload(code, what.slice(0, 100))));
    this.socket.end();
    this.onClosed(code, what);
    for (const op of ops) op.sink.error(error);
    return false;
  }

  private onClosed(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = { code, reason };
    this.socket.destroy();
    const ops = [...this.ops.values()];
    this.ops.clear();
    for (const listener of this.closedListeners) listener(this.closed);
    for (const op of ops) op.sink.error(this.closed);
  }
}

function closePayload(code: number, reason: string): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

/**
 * A lean graphql-ws client connected eagerly to `httpUrl` (http → ws). `authorization` goes in
 * `connectionParams.authorization`, as wsClient (ws-client.ts) sends it.
 */
export function leanWsClient(httpUrl: string, authorization?: string): SubscriptionClient {
  const url = new URL(httpUrl.replace(/^http/, 'ws'));
  if (url.protocol !== 'ws:') throw new Error(`leanWsClient: only ws:// (got ${url.protocol})`);
  return new LeanClient(url, authorization === undefined ? undefined : { authorization });
}

/** Resolves at a subscription's first result (or, `errorToo`, its error); rejects on an error or an end before one. */
export function firstResult(client: SubscriptionClient, query: string, variables: Record<string, unknown> | undefined, errorToo: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    client.subscribe(variables ? { query, variables } : { query }, {
      next: () => resolve(),
      error: (error) => (errorToo ? resolve() : reject(new Error(`subscription failed: ${JSON.stringify(error)}`))),
      complete: () => reject(new Error('subscription ended before its first result')),
    });
  });
}
