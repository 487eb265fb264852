import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { mediaTypeOf } from './http.js';

/** The header that marks a request as sent by a script (yoga's CSRF plugin's default name). */
export const CSRF_HEADER = 'x-graphql-yoga-csrf';

/** Content types a browser sends cross-origin without a preflight (Fetch: CORS-safelisted request headers). */
const SIMPLE_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

/**
 * Whether a POST with this Content-Type could come from a page without a CORS preflight (an
 * HTML form, a `no-cors` fetch): none, one of the three simple types, or one that does not
 * parse (a browser may treat it as simple).
 */
function isSimpleContentType(contentType: string | null): boolean {
  if (contentType === null) return true;
  const essence = mediaTypeOf(contentType);
  return SIMPLE_CONTENT_TYPES.has(essence) || !/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(essence);
}

/**
 * CSRF prevention as yoga's `useCSRFPrevention` (@graphql-yoga/plugin-csrf-prevention) and
 * Apollo's do it; that package is not a dependency, so this is the same check: a POST that a
 * browser would send without a preflight — a form's urlencoded or multipart body, which yoga
 * parses, or text/plain or no type, which it does not (with the header they get 415,
 * media-types.ts) — must carry `x-graphql-yoga-csrf` (any value), which a page can add only with
 * a preflight that CORS then refuses for an unlisted origin. A JSON POST needs no
 * header: its content type already forces the preflight. GET is let through: it cannot run a
 * mutation (yoga answers 405), its answer is readable only by an origin CORS grants, and a
 * cross-origin fetch carries an Origin that the origin check refuses (origins.ts); requiring the
 * header on GET would break every plain `GET /graphql?query=…` client for no gain.
 * Refused: 403, `BAD_REQUEST`, before the body is parsed.
 */
export function useCsrfPrevention(): Plugin {
  return {
    onRequestParse({ request }) {
      if (request.method !== 'POST' || !isSimpleContentType(request.headers.get('content-type'))) return;
      if (request.headers.has(CSRF_HEADER)) return;
      throw createGraphQLError(
        `This request was refused as a possible cross-site request forgery: send the body as application/json, or a form (application/x-www-form-urlencoded, multipart/form-data) with the ${CSRF_HEADER} header`,
        { extensions: { code: 'BAD_REQUEST', http: { status: 403 } } },
      );
    },
  };
}
