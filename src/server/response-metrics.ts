import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

/** The paths whose first segment is a route label; any other path is `other` (a scanner's random paths are one series). */
const ROUTES = new Set(['graphql', 'metrics', 'healthz', 'readyz', 'dashboard']);

/** The route label of a request: the first segment of its path when it is one of ROUTES, else `other`. */
export function routeOf(url: string | undefined): string {
  // `/graphql?query=…`, `/dashboard/app.js`: the segment ends at the next slash, query or fragment.
  const first = (url ?? '/').slice(1).split(/[/?#]/, 1)[0] ?? '';
  return ROUTES.has(first) ? first : 'other';
}

/**
 * Counts every HTTP response of `listener` once it is over (taskwire_http_responses_total), by route
 * and status: what the GraphQL operations counter cannot see — refusals before GraphQL runs (401
 * without a credential, 413, 415, 406, a foreign origin's 403), the probes, /metrics, the dashboard.
 * A response the client went away from before its head was sent is `499` (nginx's "client closed
 * request"); an SSE stream is counted when it ends.
 */
export function countResponses(listener: RequestListener, count: (route: string, code: string) => void): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    res.once('close', () => count(routeOf(req.url), res.headersSent ? String(res.statusCode) : '499'));
    listener(req, res);
  };
}
