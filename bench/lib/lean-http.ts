import { isUtf8 } from 'node:buffer';
import { connect, type Socket } from 'node:net';

/**
 * A GraphQL-over-HTTP client on one keep-alive HTTP/1.1 connection (a raw TCP socket), for (e):
 * ten of them send 10,000 requests as fast as the server answers, on the same two cores as the
 * server and PostgreSQL. Node's `fetch` (undici) spent ~300–400 µs of CPU per request there —
 * more than the server's whole answer to `{ __typename }` — so the scenario measured its own
 * client about as much as the server (bench/README.md, "The measuring client (e)"). This one
 * still does a client's whole job, every request: the request line and headers with the body's
 * byte length, the variables serialized; the status line read and checked, every header line
 * parsed (Content-Length or chunked transfer coding, `Connection: close`), the body checked as
 * UTF-8 and `JSON.parse`d whole, and a response with `errors`, without `data` or with a status
 * other than 200 thrown as `gql` (graphql-client.ts) throws it. What it leaves out is what costs
 * per request without being a client's work: a Request, a Response, Headers and body streams per
 * call, and a pool that looks for an idle socket. One request at a time per client (no pipelining),
 * as a fetch loop does. Plain http:// only.
 */
export interface LeanHttpClient {
  /** POSTs `{query, variables}`; resolves with `data`. */
  request<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, authorization?: string): Promise<T>;
  close(): void;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

interface Pending {
  resolve(data: unknown): void;
  reject(error: Error): void;
}

/** A response head: status, and how its body ends. */
interface Head {
  status: number;
  /** Body bytes, or -1 for the chunked transfer coding. */
  length: number;
  close: boolean;
}

function parseHead(text: string): Head | Error {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!status) return new Error(`lean-http: bad status line ${JSON.stringify(lines[0])}`);
  let length: number | undefined;
  let chunked = false;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return new Error(`lean-http: bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d+$/.test(value)) return new Error(`lean-http: bad Content-Length ${JSON.stringify(value)}`);
      length = Number(value);
    } else if (name === 'transfer-encoding') chunked = value.toLowerCase() === 'chunked';
    else if (name === 'connection') close = value.toLowerCase() === 'close';
  }
  if (chunked) return { status: Number(status[1]), length: -1, close };
  if (length === undefined) return new Error('lean-http: a response with neither Content-Length nor chunked coding');
  return { status: Number(status[1]), length, close };
}

/**
 * The body of a chunked response in `buf` (which starts at the body), or undefined while it is
 * incomplete; `end` is where the response ends in `buf`.
 */
function dechunk(buf: Buffer): { body: Buffer; end: number } | Error | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const sizeText = buf.toString('latin1', at, lineEnd).split(';')[0] as string;
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) return new Error(`lean-http: bad chunk size ${JSON.stringify(sizeText)}`);
    const size = Number.parseInt(sizeText, 16);
    const dataStart = lineEnd + 2;
    if (size === 0) {
      // No trailers are sent by the server: the last chunk ends with an empty line.
      if (buf.length < dataStart + 2) return undefined;
      if (buf[dataStart] !== 0x0d || buf[dataStart + 1] !== 0x0a) return new Error('lean-http: trailers after the last chunk');
      return { body: Buffer.concat(parts), end: dataStart + 2 };
    }
    if (buf.length < dataStart + size + 2) return undefined;
    if (buf[dataStart + size] !== 0x0d || buf[dataStart + size + 1] !== 0x0a) return new Error('lean-http: a chunk not followed by CRLF');
    parts.push(buf.subarray(dataStart, dataStart + size));
    at = dataStart + size + 2;
  }
}

/** A client of `url` (http://host:port/path): the connection opens on the first request and again after a close. */
export function leanHttpClient(url: string): LeanHttpClient {
  const { hostname, port, pathname, host } = new URL(url);
  const fixedHead = `POST ${pathname} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nAccept: application/graphql-response+json\r\n`;
  let socket: Socket | undefined;
  let pending: Pending | undefined;
  let buffered: Buffer = Buffer.alloc(0);
  let head: Head | undefined;
  let headBytes = 0;

  const fail = (error: Error): void => {
    const p = pending;
    pending = undefined;
    socket?.destroy();
    socket = undefined;
    p?.reject(error);
  };

  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    if (!pending) return fail(new Error('lean-http: bytes from the server with no request in flight'));
    if (!head) {
      const end = buffered.indexOf(CRLF_CRLF);
      if (end < 0) return;
      const parsed = parseHead(buffered.toString('latin1', 0, end));
      if (parsed instanceof Error) return fail(parsed);
      head = parsed;
      headBytes = end + 4;
    }
    let body: Buffer;
    let end: number;
    if (head.length >= 0) {
      end = headBytes + head.length;
      if (buffered.length < end) return;
      body = buffered.subarray(headBytes, end);
    } else {
      const out = dechunk(buffered.subarray(headBytes));
      if (out === undefined) return;
      if (out instanceof Error) return fail(out);
      body = out.body;
      end = headBytes + out.end;
    }
    if (buffered.length > end) return fail(new Error('lean-http: bytes after the response'));
    const { status, close } = head;
    const p = pending;
    pending = undefined;
    head = undefined;
    buffered = Buffer.alloc(0);
    if (close) {
      socket?.end();
      socket = undefined;
    }
    if (!isUtf8(body)) return p.reject(new Error('lean-http: a body that is not UTF-8'));
    let parsed: { data?: unknown; errors?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as { data?: unknown; errors?: unknown };
    } catch {
      return p.reject(new Error(`lean-http: a body that is not JSON (status ${status})`));
    }
    if (status !== 200 || parsed.errors !== undefined || parsed.data == null) {
      return p.reject(new Error(`GraphQL ${status}: ${JSON.stringify(parsed.errors ?? parsed)}`));
    }
    p.resolve(parsed.data);
  };

  const open = (): Socket => {
    const s = connect({ host: hostname, port: Number(port), noDelay: true });
    // Only the current connection's bytes: one closed after `Connection: close` is done with.
    s.on('data', (chunk: Buffer) => {
      if (socket === s) onData(chunk);
    });
    s.on('error', (error) => {
      if (socket === s) fail(error);
    });
    s.on('close', () => {
      if (socket !== s) return;
      socket = undefined;
      if (pending) fail(new Error('lean-http: the server closed the connection mid-request'));
    });
    return s;
  };

  return {
    request<T>(query: string, variables?: Record<string, unknown>, authorization?: string): Promise<T> {
      if (pending) return Promise.reject(new Error('lean-http: one request at a time per client'));
      const body = JSON.stringify(variables === undefined ? { query } : { query, variables });
      const auth = authorization === undefined ? '' : `Authorization: ${authorization}\r\n`;
      socket ??= open();
      buffered = Buffer.alloc(0);
      head = undefined;
      return new Promise<T>((resolve, reject) => {
        pending = { resolve: resolve as (data: unknown) => void, reject };
        (socket as Socket).write(`${fixedHead}${auth}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      });
    },
    close() {
      socket?.destroy();
      socket = undefined;
      if (pending) fail(new Error('lean-http: closed'));
    },
  };
}
