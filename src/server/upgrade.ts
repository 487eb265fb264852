import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import type { OriginPolicy } from './origins.js';

/** Answers an upgrade request with a plain HTTP status and closes the socket: no WebSocket is made. */
function refuse(socket: Duplex, status: 400 | 403, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Hands WebSocket upgrades on `path` to `wss` (created with `noServer`), after the origin policy:
 * a browser page of an origin not allowed (or, with auth off, a Host that is not a loopback name)
 * gets 403 before the upgrade, so it never opens a socket (DESIGN Part 2 §B: a page on
 * evil.example enqueued tasks over graphql-ws). Upgrades on other paths get 400, as `ws` answers
 * them itself when it owns the server.
 */
export function routeUpgrades(server: Server, wss: WebSocketServer, path: string, policy: OriginPolicy): void {
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A client that resets mid-handshake must not crash the process.
    socket.on('error', () => socket.destroy());
    if (new URL(request.url ?? '/', 'http://localhost').pathname !== path) return refuse(socket, 400, 'Bad Request');
    const refusal = policy.refusal(request.headers.origin, request.headers.host);
    if (refusal !== undefined) return refuse(socket, 403, `${refusal}: the WebSocket upgrade is refused`);
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });
}
