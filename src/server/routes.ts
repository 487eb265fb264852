import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';

/** Answers one GET (or HEAD) request on a fixed path. */
export type RouteHandler = (request: Request) => Response | Promise<Response>;

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
        endResponse(new Response('Method Not Allowed\n', { status: 405, headers: { allow: 'GET, HEAD', 'content-type': 'text/plain' } }));
        return;
      }
      let response: Response;
      try {
        response = await handler(request);
      } catch (error) {
        log.error({ err: error, path: url.pathname }, 'route handler failed');
        response = new Response('Internal Server Error\n', { status: 500, headers: { 'content-type': 'text/plain' } });
      }
      endResponse(request.method === 'HEAD' ? new Response(null, { status: response.status, headers: response.headers }) : response);
    },
  };
}
