import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { GRAPHQL_CODES } from '../graphql/errors.js';

/** What yoga gets from Node for each request, besides the Fetch Request. */
export interface ServerContext {
  req: IncomingMessage;
  res: ServerResponse;
}

/** The part of a yoga instance this needs: its Node request listener. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * A Content-Type's essence (RFC 9110 media type, no parameters), lower-cased: the first of a list,
 * as yoga reads it. `application/JSON; charset=utf-8` → `application/json`; none → ''.
 */
export function mediaTypeOf(contentType: string | null | undefined): string {
  return ((contentType ?? '').split(',')[0] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * A Content-Type with its media type in lower case and no space before its parameters:
 * `Application/JSON ; charset=utf-8` → `application/json; charset=utf-8`. RFC 9110 makes the type
 * case-insensitive and allows that space; yoga's parsers match the type as written and answered
 * such a body 415. Parameters are kept as sent (a multipart boundary is case-sensitive).
 */
export function canonicalContentType(contentType: string): string {
  const semi = contentType.indexOf(';');
  const essence = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return semi === -1 ? essence : `${essence};${contentType.slice(semi + 1)}`;
}

export interface BodyLimitOptions {
  /**
   * How much of a refused body is read (and thrown away) so the client gets to read the 413,
   * counting what was read before; past it the connection is cut. Default: 4 × the limit, at
   * least 4 MiB.
   */
  discardBytes?: number;
  /**
   * Offered each whole body first; returns true when it answers the request itself (the GraphQL
   * fast path, fast-path.ts), false to leave it to `handler`.
   */
  fast?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean;
  /**
   * The CORS headers of a request's answer (origins.ts corsHeadersFor): added to the 413, which is
   * written here before yoga's CORS plugin runs; without them a page of a listed origin sees only
   * a network error.
   */
  corsHeaders?: (req: IncomingMessage) => Record<string, string> | undefined;
}

/**
 * Answers 413 and reads the rest of the body into nothing. The answer is written at once but
 * ended only when the upload is over: ending it closes the connection (`connection: close`), and
 * a socket closed while the client still sends is reset by the kernel, so the client saw
 * EPIPE/ECONNRESET instead of the 413 (often losing the answer already in its buffer). The
 * answer carries its length, so a client that reads early has all of it.
 * `read` is how much of the body was read before this.
 */
function refuse(req: IncomingMessage, res: ServerResponse, maxBytes: number, read: number, discardBytes: number, cors?: Record<string, string>): void {
  const body = JSON.stringify({
    // `limit` and `max` as the operation limits name theirs (limits.ts): the option's name and its value.
    errors: [{ message: `Request body is larger than ${maxBytes} bytes`, extensions: { code: GRAPHQL_CODES.payloadTooLarge, limit: 'maxBodyBytes', max: maxBytes } }],
  });
  res.writeHead(413, { ...cors, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.write(body);
  let discarded = read;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    // A client that keeps sending far past the limit is not owed the wait: cut it.
    if (discarded > discardBytes) req.socket.destroy();
  });
  req.once('end', () => res.end());
  req.resume();
}

/**
 * Reads request bodies with a size cap before yoga sees them: a declared Content-Length over
 * the cap is refused at once, a chunked body as soon as it passes it (413 and a GraphQL error
 * body, `PAYLOAD_TOO_LARGE`); the rest of a refused body is read and dropped, never kept (see
 * refuse). The body read here is handed to yoga as `req.body`, which @whatwg-node/server uses
 * instead of reading the stream again.
 */
export function withBodyLimit(handler: NodeHandler, maxBytes: number, options: BodyLimitOptions = {}): RequestListener {
  const discardBytes = options.discardBytes ?? Math.max(4 * maxBytes, 4 * 1_048_576);
  return (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') {
      void handler(req, res);
      return;
    }
    req.once('error', () => {
      if (!res.writableEnded) res.destroy();
    });
    const contentType = req.headers['content-type'];
    // Before the fast path and yoga, which both read it as written.
    if (contentType !== undefined && contentType !== 'application/json') req.headers['content-type'] = canonicalContentType(contentType);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      refuse(req, res, maxBytes, 0, discardBytes, options.corsHeaders?.(req));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.off('end', onEnd);
        chunks.length = 0;
        refuse(req, res, maxBytes, size, discardBytes, options.corsHeaders?.(req));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      if (options.fast?.(req, res, body)) return;
      Object.assign(req, { body });
      void handler(req, res);
    };
    req.on('data', onData);
    req.once('end', onEnd);
  };
}
