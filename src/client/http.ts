import type { Credentials } from './credentials.js';
import { ConnectionError, requestError, type GraphQLErrorPayload } from './errors.js';
import { encodeVariables } from './json-variables.js';
import type { TypedDocumentString } from './generated/graphql.js';

export interface HttpTransportOptions {
  url: string;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** The Authorization header of each request (asked for every request); it replaces one in `headers`. */
  credentials?: Credentials;
  /** How long one request may take, in ms, before it fails with CONNECTION_FAILED. */
  requestTimeoutMs: number;
}

export interface HttpTransport {
  /**
   * POSTs one operation; resolves with its `data`, or throws RequestError (UnauthenticatedError,
   * ForbiddenError, RateLimitedError by code) / ConnectionError; whatever getToken() throws, as is.
   */
  request<R, V>(document: TypedDocumentString<R, V>, variables: V, signal?: AbortSignal): Promise<R>;
}

interface GraphQLResponse {
  data?: unknown;
  errors?: GraphQLErrorPayload[];
}

function isGraphQLResponse(value: unknown): value is GraphQLResponse {
  if (typeof value !== 'object' || value === null) return false;
  const errors = (value as { errors?: unknown }).errors;
  return 'data' in value || (Array.isArray(errors) && errors.length > 0);
}

/** The reason of a failed fetch in a few words: `ECONNREFUSED`, `ENOTFOUND`, … (Node puts it in `cause`). */
function describeFetchError(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** Codes of HTTP statuses that a proxy or an auth layer may answer without a GraphQL body. */
const STATUS_CODES: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 429: 'RATE_LIMITED' };

/** Retry-After in ms (seconds, or an HTTP date), or undefined when absent or unreadable. */
function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (value.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * Whether `error` is the server refusing a read token a task's `schedule` (FORBIDDEN at
 * `….schedule` below the root; `Query.schedule` itself is at the root). The client selects that
 * reference on every task, so it takes the refusal as the null the field comes with, the way the
 * server answers `Task.workflow` to a read token, instead of failing the read of the task.
 */
function isScheduleHiddenFromReadToken(error: GraphQLErrorPayload): boolean {
  const path = error.path ?? [];
  return error.extensions?.code === 'FORBIDDEN' && path.length > 1 && path[path.length - 1] === 'schedule';
}

/** GraphQL over HTTP (POST, JSON) with typed documents. */
export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const { url } = options;
  return {
    async request<R, V>(document: TypedDocumentString<R, V>, variables: V, signal?: AbortSignal): Promise<R> {
      const timeout = AbortSignal.timeout(options.requestTimeoutMs);
      const headers = new Headers(options.headers);
      headers.set('content-type', 'application/json');
      headers.set('accept', 'application/graphql-response+json, application/json;q=0.9');
      const authorization = await options.credentials?.authorization();
      if (authorization) headers.set('authorization', authorization);
      // Before the fetch: a value that is not JSON is the caller's error, not the connection's.
      const payload = `{"query":${JSON.stringify(document.toString())},"variables":${encodeVariables(variables)}}`;
      let response: Response;
      let text: string;
      try {
        response = await doFetch(url, {
          method: 'POST',
          headers,
          body: payload,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        text = await response.text();
      } catch (error) {
        // The caller's own abort is theirs to handle; everything else is the connection.
        if (signal?.aborted) throw signal.reason;
        if (timeout.aborted) {
          throw new ConnectionError('CONNECTION_FAILED', `No answer from ${url} within ${options.requestTimeoutMs} ms`, { cause: error });
        }
        throw new ConnectionError('CONNECTION_FAILED', `Cannot reach ${url} (${describeFetchError(error)})`, { cause: error });
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (!isGraphQLResponse(body)) {
        const code = STATUS_CODES[response.status];
        if (code) throw requestError([{ message: `HTTP ${response.status} from ${url}`, extensions: { code } }], response.status, retryAfterMs(response));
        throw new ConnectionError('BAD_RESPONSE', `HTTP ${response.status} from ${url} is not a GraphQL response; is it a taskwire server's /graphql?`);
      }
      const hasData = body.data !== null && body.data !== undefined;
      const errors = (body.errors ?? []).filter((error) => !(hasData && isScheduleHiddenFromReadToken(error)));
      // Every error a taskwire server sends has its code (masking gives the unexpected ones
      // INTERNAL_SERVER_ERROR); errors without any are another GraphQL server's, or another version's.
      if (errors.length > 0 && errors.every((error) => typeof error.extensions?.code !== 'string')) {
        throw new ConnectionError('BAD_RESPONSE', `HTTP ${response.status} from ${url} is not a taskwire server's answer (${errors[0]?.message ?? 'an error without a code'}); is it a taskwire /graphql, of this version?`);
      }
      if (errors.length > 0) throw requestError(errors, response.status, retryAfterMs(response));
      if (body.data === null || body.data === undefined) {
        throw new ConnectionError('BAD_RESPONSE', `HTTP ${response.status} from ${url}: a GraphQL response without data`);
      }
      return body.data as R;
    },
  };
}
