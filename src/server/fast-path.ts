import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { createGraphQLError, processRegularResult, type GraphQLParams, type YogaServerInstance } from 'graphql-yoga';
import type { Principal } from '../auth/principal.js';
import type { GraphQLContext } from '../graphql/context.js';
import { isGraphQLError, maskError } from '../graphql/errors.js';
import type { Logger } from '../logger.js';
import type { ServerContext } from './http.js';
import type { OriginPolicy } from './origins.js';

/**
 * Where the fast path leaves a request's principal in yoga's initial context (a symbol: nothing a
 * client sends can set it). The app's context factory takes it from there (fastPrincipalOf).
 */
const PRINCIPAL = Symbol('taskwire.fast-path.principal');

/** The principal the fast path authenticated for this operation's request, if it served it. */
export function fastPrincipalOf(initial: object): Principal | undefined {
  return (initial as { [PRINCIPAL]?: Principal })[PRINCIPAL];
}

export interface FastPathOptions {
  yoga: YogaServerInstance<ServerContext, GraphQLContext>;
  /** The GraphQL endpoint's path (`/graphql`). */
  path: string;
  origins: OriginPolicy;
  /**
   * The principal of a request from its `Authorization` header (ANONYMOUS while auth is off);
   * throws the refusal as yoga would send it (a GraphQLError with `extensions.http`).
   */
  authenticate(authorization: string | undefined, req: IncomingMessage): Promise<Principal>;
  log: Logger;
  /** Logs (or counts) an error of the database's outage, returning whether it was one (outage-log.ts). */
  outage?: (error: unknown) => boolean;
}

/** Serves the common GraphQL request without yoga's Fetch adapter; see createFastPath. */
export interface FastPath {
  /**
   * Takes the request and answers it when it is of the common kind, else returns false and
   * leaves `req`, `res` and the body untouched (yoga then serves it). `body`: the whole request body.
   */
  serve(req: IncomingMessage, res: ServerResponse, body: Buffer): boolean;
}

/** The `Response` of yoga's result processor as data: the processor only constructs one. */
class CapturedResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(
    readonly body: string | null,
    init: { status?: number; headers?: Record<string, string> },
  ) {
    this.status = init.status ?? 200;
    this.headers = init.headers ?? {};
  }
}
const CAPTURE = { Response: CapturedResponse } as never;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

const UTF8_CHARSET = /^\s*charset\s*=\s*"?utf-8"?\s*$/i;

/**
 * Whether yoga reads the body as JSON and the fast path may take it: yoga matches
 * `application/json` as written (lower case, `;` right after it), which withBodyLimit
 * (http.ts canonicalContentType) has made of `Application/JSON` or `application/json ;charset=utf-8`
 * before either sees it; the only parameter taken here is a UTF-8 charset.
 */
function isJsonType(contentType: string | undefined): boolean {
  if (contentType === 'application/json') return true;
  return contentType !== undefined && contentType.startsWith('application/json;') && UTF8_CHARSET.test(contentType.slice('application/json;'.length));
}

/**
 * The media type yoga's result processors pick for a single (non-stream) result under this Accept
 * header, for the headers whose choice is plain: none and `*` / `*` and `application/json` give
 * application/json, `application/graphql-response+json` gives itself. Undefined for anything else
 * (lists, q-values, SSE, multipart): those go to yoga.
 */
function acceptedType(accept: string | undefined): string | undefined {
  if (accept === undefined) return 'application/json';
  const essence = accept.replace(/\s/g, '').toLowerCase().replace(/;charset=utf-8$/, '');
  if (essence === '*/*' || essence === 'application/json') return 'application/json';
  if (essence === 'application/graphql-response+json') return essence;
  return undefined;
}

/**
 * True for every document that may hold a subscription operation: the keyword is a whole GraphQL
 * name (names are [_A-Za-z0-9], as \w), so a document without it as one cannot subscribe. A
 * document that only mentions it (a string, a comment) goes to yoga too, which answers it the
 * same. Subscriptions are left to yoga because their answer depends on the Accept in ways the
 * fast path would have to copy (yoga streams one as SSE under an Accept of any type, or none), and
 * scanning the text costs far less than parsing it to find the operation's type.
 */
const MAY_SUBSCRIBE = /\bsubscription\b/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The body's GraphQL parameters when they are the plain kind (yoga's parameter checks would pass), else undefined. */
function plainParams(body: Buffer): GraphQLParams | undefined {
  let parsed: unknown;
  try {
    // Fatal: a body that is not UTF-8 gets yoga's 400, not U+FFFD in a task's arguments.
    parsed = JSON.parse(UTF8.decode(body));
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed)) return undefined;
  for (const key in parsed) if (key !== 'query' && key !== 'variables' && key !== 'operationName') return undefined;
  const { query, variables, operationName } = parsed;
  if (typeof query !== 'string' || query.length === 0) return undefined;
  if (variables !== undefined && variables !== null && !isPlainObject(variables)) return undefined;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
  return parsed as GraphQLParams;
}

/**
 * The common GraphQL request served straight from node:http: a JSON `POST /graphql` with a
 * single operation (`query`, `variables`, `operationName`), no `Origin` (servers, the CLI, the
 * typed client in Node) and a plain Accept. It runs yoga's own operation pipeline
 * (`getResultForParams`: parameter checks, the parse/validation cache, the depth, cost, alias
 * and token limits, the guard, error masking) and yoga's own result processor (status codes,
 * content type, internals stripped), and authenticates as yoga's HTTP plugin does; what it skips is
 * the Fetch adapter around them — a Request and a Response object, their header maps, body
 * streams, an AbortSignal per request — and the response goes out in one write with its
 * Content-Length. Every other request (an Origin, which needs CORS and the origin check; other
 * content types and the CSRF rule; GET; SSE and multipart; subscriptions, whatever the Accept;
 * batches; extensions such as persisted operations; malformed bodies, whose errors yoga words)
 * is left to yoga unchanged.
 */
export function createFastPath(o: FastPathOptions): FastPath {
  const log = o.log.child({ component: 'graphql' });

  function send(res: ServerResponse, response: CapturedResponse): void {
    if (res.destroyed || res.writableEnded) return;
    const body = response.body ?? '';
    // `Vary: Origin` as useOriginCheck marks every GraphQL answer (the CORS grant depends on it).
    res.writeHead(response.status, { ...response.headers, vary: 'Origin', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** An error that escaped yoga's pipeline, as yoga's handler turns it into errors (masked, logged when masked). */
  function asErrors(error: unknown): ExecutionResult {
    const masked = maskError(error, 'Unexpected error.');
    if (masked !== error && !o.outage?.(error)) log.error({ err: error }, 'GraphQL request failed');
    return { errors: [isGraphQLError(masked) ? masked : createGraphQLError(masked.message, { originalError: masked })] };
  }

  async function run(req: IncomingMessage, res: ServerResponse, params: GraphQLParams, accepted: string): Promise<void> {
    let result: ExecutionResult | AsyncIterable<ExecutionResult> | undefined;
    try {
      const principal = await o.authenticate(req.headers.authorization, req);
      // What yoga's handlers read of a request after its parsing: the method (mutations only
      // over POST), the URL and headers; the principal rides in the initial context.
      const request = { method: 'POST', url: `http://${req.headers.host ?? 'localhost'}${o.path}`, headers: headersOf(req) } as unknown as Request;
      result = await o.yoga.getResultForParams({ params, request }, { req, res, [PRINCIPAL]: principal } as ServerContext);
    } catch (error) {
      result = asErrors(error);
    }
    if (result !== undefined && Symbol.asyncIterator in result) {
      // Subscriptions never get here (serve); should a stream come back all the same (incremental
      // delivery, were it ever turned on), end it rather than leave it running unread.
      void (result as AsyncIterableIterator<ExecutionResult>).return?.()?.catch(() => undefined);
    }
    send(res, processRegularResult(result ?? {}, CAPTURE, accepted) as unknown as CapturedResponse);
  }

  return {
    serve(req, res, body) {
      if (req.method !== 'POST' || req.url !== o.path) return false;
      const h = req.headers;
      if (h.origin !== undefined || !isJsonType(h['content-type'])) return false;
      // A refused Host (auth off: not a loopback name) gets yoga's 403.
      if (o.origins.refusal(undefined, h.host) !== undefined) return false;
      const accepted = acceptedType(h.accept);
      if (accepted === undefined) return false;
      const params = plainParams(body);
      if (params === undefined || MAY_SUBSCRIBE.test(params.query as string)) return false;
      void run(req, res, params, accepted).catch((error: unknown) => {
        log.error({ err: error }, 'GraphQL fast path failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end();
      });
      return true;
    },
  };
}

/** The request's headers as the Fetch `Headers` reads that yoga's hooks use (`get`, `has`). */
function headersOf(req: IncomingMessage): Pick<Headers, 'get' | 'has'> {
  const value = (name: string): string | null => {
    const v = req.headers[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  };
  return { get: value, has: (name) => value(name) !== null };
}
