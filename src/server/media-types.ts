import { isUtf8 } from 'node:buffer';
import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { GRAPHQL_CODES } from '../graphql/errors.js';

/** yoga's ResultProcessor (not exported by its index). */
type ResultProcessor = Parameters<Parameters<NonNullable<Plugin['onResultProcess']>>[0]['setResultProcessor']>[0];

/**
 * The Content-Types of a POST body that yoga's parsers read (yoga matches them as written: in
 * lower case, a parameter allowed after `;`). The two form types also need the CSRF header
 * (csrf.ts); `text/plain` is read by none of them, with or without it.
 */
const READ_CONTENT_TYPES = ['application/json', 'application/graphql+json', 'application/graphql', 'application/x-www-form-urlencoded', 'multipart/form-data'];

/**
 * The media types yoga's result processors send, in UTF-8: a result as JSON or as one SSE event, a
 * subscription that started only as SSE (multipart/mixed, which yoga also sends a query's result
 * as, is left out: nothing here uses it and a subscription never gets it).
 */
const RESULT_TYPES = ['application/graphql-response+json', 'application/json', 'text/event-stream'];
const STREAM_TYPES = ['text/event-stream'];

function unsupportedContentType(contentType: string | null): Error {
  const sent = contentType === null ? 'A POST without a Content-Type' : `Content-Type "${contentType}"`;
  // No `http.spec`: 415 under every Accept, as a body that is not JSON is 400 under every Accept.
  return createGraphQLError(`${sent} is not read by this server: send the body as ${READ_CONTENT_TYPES.join(', ')}`, {
    extensions: { code: GRAPHQL_CODES.badRequest, http: { status: 415 } },
  });
}

/** The types read as text (a form is percent-encoded ASCII, a multipart body's parts are its own). */
const TEXT_CONTENT_TYPES = ['application/json', 'application/graphql+json', 'application/graphql'];
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/**
 * A text body's charset other than UTF-8 (415), or bytes that are not UTF-8 (400): yoga decodes
 * whatever it is sent as UTF-8, replacing what does not decode, so a `café` sent in Latin-1 was
 * stored as `caf\uFFFD` in a task's arguments with a 200. JSON is UTF-8 (RFC 8259).
 */
function textBodyRefusal(contentType: string): Error | undefined {
  const charset = CHARSET.exec(contentType)?.[1]?.toLowerCase();
  if (charset === undefined || charset === 'utf-8' || charset === 'utf8') return undefined;
  return createGraphQLError(`Content-Type "${contentType}" declares the charset ${charset}: send the body in UTF-8`, {
    extensions: { code: GRAPHQL_CODES.badRequest, http: { status: 415 } },
  });
}

function notUtf8(): Error {
  return createGraphQLError('The request body is not UTF-8: send JSON in UTF-8 (a byte sequence in it does not decode)', {
    extensions: { code: GRAPHQL_CODES.badRequest, http: { status: 400 } },
  });
}

/**
 * The 406 of a request whose Accept admits none of the types yoga could send: the error as JSON,
 * whatever the Accept (there is no type of its list to write it in, and an empty body says nothing).
 * A subscription that had started is ended: nobody will read it, and it would hold its place in
 * the hub (live/shared-results.ts ends it too when it runs first; ending twice is harmless).
 */
function notAcceptable(accept: string | null): ResultProcessor {
  return (result, fetchAPI) => {
    const stream = isAsyncIterable(result);
    if (stream) void result[Symbol.asyncIterator]().return?.()?.catch(() => undefined);
    const types = stream ? STREAM_TYPES : RESULT_TYPES;
    const asked = accept === null ? 'no Accept' : `Accept "${accept}"`;
    const message = stream
      ? `A subscription is answered as a stream, which ${asked} does not admit: ask for text/event-stream (or subscribe over graphql-ws)`
      : `${asked} admits no media type this server answers in: ask for ${types.join(', ')} (UTF-8)`;
    const body = JSON.stringify({ errors: [{ message, extensions: { code: GRAPHQL_CODES.badRequest } }] });
    return new fetchAPI.Response(body, {
      status: 406,
      statusText: 'Not Acceptable',
      headers: { 'content-type': 'application/json; charset=utf-8', accept: types.map((t) => `${t}; charset=utf-8`).join(', ') },
    });
  };
}

/**
 * Gives yoga's bare refusals a GraphQL error body (docs/graphql.md#errors): a POST whose
 * Content-Type no parser reads (yoga: 415 with no body; here 415 `BAD_REQUEST` naming the type and
 * what is read), and a request whose Accept admits no type yoga's result processors send (yoga:
 * 406 with no body; here 406 `BAD_REQUEST` naming the Accept and what it may ask for). Registered
 * after every other plugin: the parsers (yoga's, useRequestParams), the CSRF check (which answers a
 * form or text/plain without its header first, 403) and authentication (401 first) have run, and
 * so have yoga's result processors, which it stands in for only when none took the result.
 */
export function useMediaTypeErrors(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      // Other methods than GET and POST get yoga's 405, checked after this.
      if (request.method !== 'POST') return;
      const contentType = request.headers.get('content-type');
      if (requestParser === undefined) throw unsupportedContentType(contentType);
      if (contentType === null || !TEXT_CONTENT_TYPES.includes(contentType.split(';')[0] ?? '')) return;
      const refusal = textBodyRefusal(contentType);
      if (refusal) throw refusal;
      // The fast path (fast-path.ts) decodes strictly and leaves what fails to yoga, so this is the
      // only check of the bytes: read from a clone, the parser still reads the body itself.
      setRequestParser(async (r) => {
        if (!isUtf8(new Uint8Array(await r.clone().arrayBuffer()))) throw notUtf8();
        return requestParser(r);
      });
    },
    onResultProcess({ request, resultProcessor, setResultProcessor }) {
      if (resultProcessor === undefined) setResultProcessor(notAcceptable(request.headers.get('accept')), 'application/json');
    },
    // A query's or mutation's request error (variables that do not coerce) is 400 under every JSON
    // type (input-errors.ts), and yoga's SSE answer took that status too. The graphql-sse protocol
    // has such errors reported as `next` events of an accepted (200) stream: a client fails a 400
    // connection without reading it, so the error's message and code were lost (an EventSource
    // saw only `onerror`). Auth (401/403) and limits (413, 429) keep their status: those are
    // refusals of the connection itself.
    onResponse({ response, setResponse, fetchAPI }) {
      if (response.status !== 400 || !response.headers.get('content-type')?.startsWith('text/event-stream')) return;
      setResponse(new fetchAPI.Response(response.body, { status: 200, headers: response.headers }));
    },
  };
}
