import { STATUS_CODES } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';

/** Answers one GET (or HEAD) request on a fixed path. */
export type RouteHandler = (request: Request) => Response | Promise<Response>;

/**
 * `response` with `body` and the standard reason phrase. A Response made with the global
 * constructor has an empty statusText unless given one, and the Node adapter hands it to
 * writeHead as is, so the status line went out as `HTTP/1.1 403 ` with no reason.
 */
function withReason(response: Response, body: ReadableStream<Uint8Array> | null): Response {
  return new Response(body, { status: response.status, statusText: response.statusText || STATUS_CODES[response.status], headers: response.headers });
}

/**
 * Serves plain routes (`/metrics`, `/healthz`, `/dashboard` …) from yoga's request hook,
 * before yoga looks at the path: the same listener, and `yoga.fetch` reaches them too.
 * Only GET and HEAD; anything else on these paths is 405. A handler that throws answers
 * 500 (and is logged): an uncaught error in this hook would end the process.
 */
export function useRoutes(routes: ReadonlyMap<string, RouteHandler>, log: Logger): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      const handler = routes.get(url.pathname);
      if (!handler) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(new Response('Method Not Allowed\n', { status: 405, statusText: 'Method Not Allowed', headers: { allow: 'GET, HEAD', 'content-type': 'text/plain' } }));
        return;
      }
      let response: Response;
      try {
        response = await handler(request);
      } catch (error) {
        log.error({ err: error, path: url.pathname }, 'route handler failed');
        response = new Response('Internal Server Error\n', { status: 500, headers: { 'content-type': 'text/plain' } });
      }
      endResponse(request.method === 'HEAD' || response.statusText === '' ? withReason(response, request.method === 'HEAD' ? null : response.body) : response);
    },
  };
}
