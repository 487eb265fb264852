import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { GRAPHQL_CODES } from '../graphql/errors.js';

/** What yoga gets from Node for each request, besides the Fetch Request. */
export interface ServerContext {
  req: IncomingMessage;
  res: ServerResponse;
}

/** The part of a yoga instance this needs: its Node request listener. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

function tooLarge(req: IncomingMessage, res: ServerResponse, maxBytes: number): void {
  const body = JSON.stringify({
    errors: [{ message: `Request body is larger than ${maxBytes} bytes`, extensions: { code: GRAPHQL_CODES.payloadTooLarge, maxBytes } }],
  });
  // Close the connection: the rest of the body is not read, so the socket cannot be reused.
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
  req.unpipe();
  req.resume();
}

/**
 * Reads request bodies with a size cap before yoga sees them: a declared Content-Length over
 * the cap is refused at once, a chunked body as soon as it passes it (413 and a GraphQL error
 * body, `PAYLOAD_TOO_LARGE`). The body read here is handed to yoga as `req.body`, which
 * @whatwg-node/server uses instead of reading the stream again.
 */
export function withBodyLimit(handler: NodeHandler, maxBytes: number): RequestListener {
  return (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') {
      void handler(req, res);
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      tooLarge(req, res, maxBytes);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBytes) {
        refused = true;
        chunks.length = 0;
        tooLarge(req, res, maxBytes);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (refused) return;
      Object.assign(req, { body: Buffer.concat(chunks) });
      void handler(req, res);
    });
    req.once('error', () => {
      if (!res.headersSent) res.destroy();
    });
  };
}
