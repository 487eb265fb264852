import type { Plugin } from 'graphql-yoga';
import { ConfigError } from '../errors.js';
import { isLoopbackHost } from './start-rule.js';

/**
 * Which browser pages may use the API (DESIGN Part 2 §B, docs/auth.md#browsers-cors-csrf-origin),
 * auth on or off:
 * - no `Origin` header (servers, the CLI, a same-origin GET): allowed;
 * - the server's own origin (the Origin's host is the request's Host) and CORS_ORIGINS: allowed;
 * - any other, `null` included: refused (403 before a WebSocket upgrade, SSE or any GraphQL
 *   request), and never granted by CORS.
 * While auth is off, the Host itself must be a loopback name: a DNS-rebinding page (evil.example
 * resolving to 127.0.0.1) is "same-origin" with itself, sends no Origin on a GET, and would
 * otherwise read every task from a developer's local server.
 */
export interface OriginPolicy {
  /** Why a request with this `Origin` (null: none) and `Host` is refused, or undefined when allowed. */
  refusal(origin: string | null | undefined, host: string | null | undefined): string | undefined;
  /** Whether `origin` is one of CORS_ORIGINS (the only origins granted by CORS, with credentials). */
  isListed(origin: string): boolean;
}

export interface OriginPolicyOptions {
  /** CORS_ORIGINS: `scheme://host[:port]` each. */
  allowed: readonly string[];
  /** AUTH_MODE=on: any Host is served (its callers need credentials anyway). */
  authOn: boolean;
}

/** `scheme://host[:port]` in lower case, as browsers send it; undefined for anything else (`null` included). */
function normalize(origin: string): string | undefined {
  if (!URL.canParse(origin)) return undefined;
  const url = new URL(origin);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
}

/** Distinct Host values whose loopback check is remembered; past it the memory starts over (any client can send any Host). */
const MAX_REMEMBERED_HOSTS = 64;

export function createOriginPolicy(o: OriginPolicyOptions): OriginPolicy {
  // loadConfig refuses an entry that is not an origin (src/config.ts originOf); one that reaches here
  // all the same stops the start rather than be dropped, as it once was, leaving its page with a 403
  // and nothing saying why.
  const notOrigins = o.allowed.filter((entry) => normalize(entry.trim()) === undefined);
  if (notOrigins.length > 0) {
    throw new ConfigError(`CORS_ORIGINS: not an origin: ${notOrigins.map((e) => JSON.stringify(e)).join(', ')} (write scheme://host[:port])`, { field: 'CORS_ORIGINS' });
  }
  const listed = new Set(o.allowed.map((entry) => normalize(entry.trim()) as string));
  // isLoopbackHost costs ~40 µs (BlockList.check) and runs on every GraphQL request while auth is off.
  const loopback = new Map<string, boolean>();
  const isLoopback = (host: string): boolean => {
    let known = loopback.get(host);
    if (known === undefined) {
      if (loopback.size >= MAX_REMEMBERED_HOSTS) loopback.clear();
      loopback.set(host, (known = isLoopbackHost(host)));
    }
    return known;
  };
  return {
    isListed: (origin) => {
      const normal = normalize(origin);
      return normal !== undefined && listed.has(normal);
    },
    refusal(origin, host) {
      if (!o.authOn && host && !isLoopback(host)) return `Host ${host} is not a loopback name (AUTH_MODE=off)`;
      if (origin === null || origin === undefined) return undefined;
      const normal = normalize(origin);
      if (normal === undefined) return `Origin ${origin} is not allowed`;
      if (listed.has(normal)) return undefined;
      if (host && URL.canParse(`http://${host}`) && new URL(normal).host === new URL(`http://${host}`).host) return undefined;
      return `Origin ${origin} is not allowed (CORS_ORIGINS)`;
    },
  };
}

/** What CORS grants a request's origin: the origin itself, with credentials, or nothing (false). */
interface CorsGrant {
  origin: string[];
  credentials: boolean;
  maxAge: number;
  exposedHeaders: string[];
}

/**
 * Response headers a page of a listed origin may read beyond the CORS-safelisted ones: how long a
 * RATE_LIMITED or 503 answer asks it to wait, and what a 401 asks for. Without them a cross-origin
 * page saw only content-length and content-type (a frontend tester), and a client's fallback to
 * Retry-After (src/client) could never work there. The body says the same (extensions.retryAfterMs).
 */
const EXPOSED_HEADERS = ['Retry-After', 'WWW-Authenticate'];

function grantFor(policy: OriginPolicy, origin: string | null | undefined): false | CorsGrant {
  if (origin === null || origin === undefined || !policy.isListed(origin)) return false;
  return { origin: [origin], credentials: true, maxAge: 600, exposedHeaders: EXPOSED_HEADERS };
}

/**
 * yoga's `cors` option: a grant, with credentials, only for CORS_ORIGINS; nothing for any other
 * origin (yoga's default reflects every origin with credentials). The server's own origin needs
 * no grant: browsers do not apply CORS to it.
 */
export function corsFor(policy: OriginPolicy): (request: Request) => false | CorsGrant {
  return (request) => grantFor(policy, request.headers.get('origin'));
}

/**
 * The headers of an answer written before yoga runs (the body limit's 413), so that a page of a
 * listed origin can read it as it reads any other answer: the grant corsFor gives, in the headers
 * yoga's CORS plugin writes for it (but `Access-Control-Max-Age`, which only a preflight's answer
 * uses), and `Vary: Origin` whatever the origin, as useOriginCheck marks yoga's answers.
 */
export function corsHeadersFor(policy: OriginPolicy, origin: string | string[] | undefined): Record<string, string> {
  const grant = grantFor(policy, typeof origin === 'string' ? origin : undefined);
  if (grant === false) return { vary: 'Origin' };
  return {
    'access-control-allow-origin': grant.origin[0] as string,
    'access-control-allow-credentials': String(grant.credentials),
    'access-control-expose-headers': grant.exposedHeaders.join(', '),
    vary: 'Origin',
  };
}

function forbidden(message: string): Response {
  const body = JSON.stringify({ errors: [{ message, extensions: { code: 'FORBIDDEN' } }] });
  // statusText: the global Response leaves it empty, and Node would send `HTTP/1.1 403 ` bare.
  return new Response(`${body}\n`, { status: 403, statusText: 'Forbidden', headers: { 'content-type': 'application/json; charset=utf-8', vary: 'Origin' } });
}

/**
 * Refuses GraphQL requests (queries, mutations, SSE) whose Origin or Host the policy refuses,
 * with 403 before anything is parsed, and marks every GraphQL answer `Vary: Origin` (the CORS
 * grant depends on it). Preflights are answered by yoga's CORS plugin before this runs.
 * GraphQL is served on `graphqlPath` exactly: any other path that reaches this (the plain routes
 * answered before it) is 404. Yoga's endpoint pattern also took `/graphql/`, `//graphql` and
 * `/anything/graphql`, where this check did not run: a DNS-rebinding page had the API there.
 */
export function useOriginCheck(policy: OriginPolicy, graphqlPath: string): Plugin {
  return {
    onRequest({ request, url, endResponse }) {
      if (url.pathname !== graphqlPath) {
        endResponse(new Response('Not Found\n', { status: 404, statusText: 'Not Found', headers: { 'content-type': 'text/plain; charset=utf-8' } }));
        return;
      }
      const refusal = policy.refusal(request.headers.get('origin'), url.host);
      if (refusal !== undefined) endResponse(forbidden(`${refusal}: the request is refused`));
    },
    onResponse({ request, response }) {
      if (new URL(request.url).pathname !== graphqlPath) return;
      const vary = response.headers.get('vary');
      if (!vary?.split(',').some((v) => v.trim().toLowerCase() === 'origin')) response.headers.set('vary', vary ? `${vary}, Origin` : 'Origin');
    },
  };
}
