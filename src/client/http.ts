import { ConnectionError, RequestError, type GraphQLErrorPayload } from './errors.js';
import type { TypedDocumentString } from './generated/graphql.js';

export interface HttpTransportOptions {
  url: string;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** How long one request may take, in ms, before it fails with CONNECTION_FAILED. */
  requestTimeoutMs: number;
}

export interface HttpTransport {
  /** POSTs one operation; resolves with its `data`, or throws RequestError / ConnectionError. */
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

/** GraphQL over HTTP (POST, JSON) with typed documents. */
export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const { url } = options;
  return {
    async request<R, V>(document: TypedDocumentString<R, V>, variables: V, signal?: AbortSignal): Promise<R> {
      const timeout = AbortSignal.timeout(options.requestTimeoutMs);
      let response: Response;
      let text: string;
      try {
        response = await doFetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/graphql-response+json, application/json;q=0.9',
            ...options.headers,
          },
          body: JSON.stringify({ query: document.toString(), variables }),
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
        throw new ConnectionError('BAD_RESPONSE', `HTTP ${response.status} from ${url} is not a GraphQL response; is it a taskwire server's /graphql?`);
      }
      if (body.errors && body.errors.length > 0) throw new RequestError(body.errors, response.status);
      if (body.data === null || body.data === undefined) {
        throw new ConnectionError('BAD_RESPONSE', `HTTP ${response.status} from ${url}: a GraphQL response without data`);
      }
      return body.data as R;
    },
  };
}
