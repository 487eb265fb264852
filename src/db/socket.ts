import { connect, Socket } from 'node:net';
import type { PostgresTarget } from '../postgres-url.js';

/** PostgreSQL's SSLRequest: a length of 8 and the code 80877103 (1234.5679). */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
/** A CancelRequest's code (1234.5678), after its length of 16. */
const CANCEL_REQUEST_CODE = 80877102;
/** SSLRequest's code (1234.5679), after its length of 8. */
const SSL_REQUEST_CODE = 80877103;

/** What of postgres.js's parsed options the socket needs (it passes them all). */
export interface SocketOptions {
  host: readonly string[];
  port: readonly number[];
  /** A Unix socket's path (`dir/.s.PGSQL.port`), or false. */
  path: string | false;
  /** In s. */
  connect_timeout: number;
  /** In s; null or false for none. */
  keep_alive: number | null | false;
}

/**
 * postgres.js's `socket` option for a connection without TLS, or with TLS postgres.js negotiates
 * itself (`sslmode=prefer`): its own TCP or Unix socket, where a close before the server's first
 * message is an error (closeUnheardIsError). postgres.js took such a close, while connecting for a statement, as a cue
 * to connect again at once, for ever and the statement with it: against a server that accepts and
 * closes (a proxy or load balancer with no database behind it, a cloud SQL proxy whose instance is
 * away) it made ~600 connections a second and the statement never failed. As an error, the statement
 * fails (`CONNECTION_CLOSED`, which callers take as the database away) and the next attempt waits the
 * pool's backoff.
 */
export function plainSocket(options: SocketOptions): Socket {
  const host = options.host[0] ?? 'localhost';
  const port = options.port[0] ?? 5432;
  const socket = options.path ? connect(options.path) : connect({ host, port });
  // postgres.js names the connection by these in its errors.
  Object.assign(socket, options.path ? {} : { host, port });
  closeUnheardIsError(socket, options.path ? { path: options.path } : { host, port });
  return socket;
}

/**
 * A close before the server's first message, with no error of its own, emits CONNECTION_CLOSED first,
 * when the first message sent was a whole startup message (or SSLRequest). A first message is one a
 * PostgreSQL (or PgBouncer) answers a startup with: an authentication request (R), an error (E), a
 * notice (N) or a protocol version (v), its length plausible; bytes that are no such message (an HTTP
 * server on the port, a stray byte) count as nothing heard. Not after a CancelRequest (postgres.js's
 * `query.cancel()`), which the server answers by closing: postgres.js resolves the cancel on that close.
 * Nor after a first write that is no whole message: a dead session's bytes with the startup message
 * behind them (src/db/client.ts, STARTUP_PADDING), which PostgreSQL refuses by closing; postgres.js
 * connecting again at once, its buffer now empty, is the cure.
 */
function closeUnheardIsError(socket: Socket, where: Where): void {
  let heard = false;
  let startup = false;
  let sslRequest = false;
  let received = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    received = Buffer.concat([received, chunk]);
    // The one-byte answer to an SSLRequest (S or N) comes before any message.
    const at = sslRequest && (received[0] === 0x53 || received[0] === 0x4e) ? 1 : 0;
    if (received.length < at + 5) return;
    const type = String.fromCharCode(received[at] as number);
    const length = received.readInt32BE(at + 1);
    heard = 'REvN'.includes(type) && length >= 4 && length < 1 << 20;
    socket.off('data', onData);
  };
  socket.on('data', onData);
  const write = socket.write;
  socket.write = function firstWrite(this: Socket, ...args: Parameters<Socket['write']>): boolean {
    socket.write = write;
    const [chunk] = args;
    const whole = Buffer.isBuffer(chunk) && chunk.length >= 8 && chunk.readInt32BE(0) === chunk.length;
    startup = whole && chunk.readInt32BE(4) !== CANCEL_REQUEST_CODE;
    sslRequest = whole && chunk.length === 8 && chunk.readInt32BE(4) === SSL_REQUEST_CODE;
    return write.apply(this, args);
  } as Socket['write'];
  // Before postgres.js's listeners, which it adds once the socket is returned.
  socket.once('close', (hadError) => {
    socket.off('data', onData);
    if (!heard && !hadError && startup) socket.emit('error', connectionError('CONNECTION_CLOSED', where));
  });
}

/**
 * postgres.js's `socket` option for TLS negotiated the classic way, the only one before PostgreSQL
 * 17: a TCP connection on which the SSLRequest has been sent and answered, so that postgres.js, told
 * `sslnegotiation: 'direct'`, starts TLS on it at once and its first write is the padded startup
 * message. Why: postgres.js 3.4 sent the SSLRequest through its write buffer, where a closed
 * connection's unsent bytes stay (src/db/client.ts, STARTUP_PADDING): appended to them, the 8 bytes were
 * never sent and each attempt waited connect_timeout (30 s), for about an hour after a restart under
 * load. Here the request bypasses that buffer, and the stale bytes go out with the padded startup
 * message inside TLS, which PostgreSQL refuses at once, as without TLS.
 *
 * It never rejects: postgres.js leaves a connection whose socket factory throws neither open nor
 * closed (not back in its pool). A connection that fails, times out or closes before the answer
 * resolves to a fresh socket that is destroyed with that error just after postgres.js has wrapped it in
 * TLS, so that it sees an ordinary failed connection (error, then close) and retries with its backoff.
 * An answer other than `S` (a server without TLS says `N`) is left to the TLS handshake, which fails
 * as it did with postgres.js's own request.
 */
export function sslRequestSocket(options: SocketOptions): Promise<Socket> {
  const host = options.host[0] ?? 'localhost';
  const port = options.port[0] ?? 5432;
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => fail(connectionError('CONNECT_TIMEOUT', { host, port })), options.connect_timeout * 1000);
    const onError = (error: Error): void => fail(error);
    const onClose = (): void => fail(connectionError('CONNECTION_CLOSED', { host, port }));
    const onConnect = (): void => {
      if (options.keep_alive) socket.setKeepAlive(true, 1000 * options.keep_alive);
      socket.write(SSL_REQUEST);
    };
    const onData = (answer: Buffer): void => {
      // Bytes after the answer, before TLS, would be read as the server's inside it (CVE-2021-23222): refused.
      if (answer.length !== 1) return fail(new Error(`PostgreSQL at ${host}:${port} answered TLS's SSLRequest with ${answer.length} bytes, not 1`));
      settle();
      resolve(socket);
    };
    const settle = (): void => {
      clearTimeout(timer);
      socket.off('error', onError).off('close', onClose).off('connect', onConnect).off('data', onData);
    };
    const fail = (error: Error): void => {
      settle();
      socket.destroy();
      const failed = new Socket();
      // After postgres.js's microtasks: it has put its listeners and TLS on `failed` by then.
      setImmediate(() => failed.destroy(error));
      resolve(failed);
    };
    socket.on('error', onError).on('close', onClose).once('connect', onConnect).once('data', onData);
  });
}

/** Where a connection goes: a TCP address, or a Unix socket's path. */
type Where = { host: string; port: number } | { path: string };

/** An error as postgres.js makes its own for a connection (`code`, `address`, `port`). */
function connectionError(code: string, where: Where): Error {
  const address = 'path' in where ? where.path : where.host;
  const port = 'path' in where ? {} : { port: where.port };
  return Object.assign(new Error(`write ${code} ${'path' in where ? where.path : `${where.host}:${where.port}`}`), { code, errno: code, address, ...port });
}

/**
 * The socket postgres.js connects with, for every client of a DATABASE_URL (the pool, migrations,
 * doctor): its own, where a close before the server's first message is an error (plainSocket); for
 * TLS negotiated the classic way (an SSLRequest first, PostgreSQL 14–16's only way), one on which the
 * request has been made, with postgres.js told to start TLS on it directly: its own request went
 * through its write buffer and stalled behind a dead connection's bytes (src/db/client.ts,
 * STARTUP_PADDING). postgres.js's own socket where it must choose: among several hosts, and
 * with TLS negotiated directly already (`?sslnegotiation=direct`; PGSSLNEGOTIATION is overridden, as
 * configuration is read in src/config.ts only: the classic way works on every server). postgres.js
 * 3.4's types know neither option.
 */
export function socketOf(target: PostgresTarget): { sslnegotiation?: 'direct'; socket?: (options: SocketOptions) => Socket | Promise<Socket> } {
  const url = new URL(target.url);
  if ((target.options.host ?? url.hostname).includes(',')) return {};
  if (typeof target.options.ssl !== 'object') return { socket: plainSocket };
  return url.searchParams.get('sslnegotiation') === 'direct' ? {} : { sslnegotiation: 'direct', socket: sslRequestSocket };
}
