import { readFileSync } from 'node:fs';
import type { RouteHandler } from '../server/routes.js';

export const DASHBOARD_PATH = '/dashboard';

/** The dashboard's files, served as they are (no build step): name → content type. */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'session.js': 'text/javascript; charset=utf-8',
  'sign-in.js': 'text/javascript; charset=utf-8',
  'graphiql-auth.js': 'text/javascript; charset=utf-8',
  'live.js': 'text/javascript; charset=utf-8',
  'render.js': 'text/javascript; charset=utf-8',
  'format.js': 'text/javascript; charset=utf-8',
  'form.js': 'text/javascript; charset=utf-8',
  'detail.js': 'text/javascript; charset=utf-8',
  'timeline.js': 'text/javascript; charset=utf-8',
  'timeline-view.js': 'text/javascript; charset=utf-8',
  'schedules.js': 'text/javascript; charset=utf-8',
  'bulk-actions.js': 'text/javascript; charset=utf-8',
  'queues.js': 'text/javascript; charset=utf-8',
  'workflow.js': 'text/javascript; charset=utf-8',
  'workflow-graph.js': 'text/javascript; charset=utf-8',
  'scopes.js': 'text/javascript; charset=utf-8',
  'clock.js': 'text/javascript; charset=utf-8',
  'notices.js': 'text/javascript; charset=utf-8',
};

/**
 * Task data is user input shown in the page: the scripts only ever set it as text, and this
 * policy is the second line (no inline script, nothing loaded from elsewhere).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Where GraphiQL's sign-in script is served (graphiql-auth.js). */
export const GRAPHIQL_AUTH_SCRIPT = `${DASHBOARD_PATH}/graphiql-auth.js`;

/**
 * GraphiQL's page (yoga's `renderGraphiQL` output) with the sign-in script loaded first, before
 * GraphiQL's own: it sends the dashboard's token (sessionStorage) on GraphiQL's requests and in
 * its graphql-ws `connection_init`, and asks for one when the server answers UNAUTHENTICATED.
 * With auth off it changes nothing. Hook: `renderGraphiQL: async (o) => withGraphiQLSignIn((await import('@graphql-yoga/render-graphiql')).renderGraphiQL(o))`.
 */
export function withGraphiQLSignIn(html: string): string {
  const tag = `<script src="${GRAPHIQL_AUTH_SCRIPT}"></script>`;
  const head = /<head[^>]*>/i.exec(html);
  if (!head) return `${tag}${html}`;
  const at = head.index + head[0].length;
  return `${html.slice(0, at)}\n${tag}${html.slice(at)}`;
}

export interface DashboardOptions {
  /** Registered task names, offered by the enqueue form. */
  taskNames: readonly string[];
}

/**
 * Routes of the live dashboard: `/dashboard` (the page), its scripts and stylesheet (read
 * once, at start), `/dashboard/tasks.json` (the task names this server knows), and `/`
 * (a redirect to the dashboard).
 */
export function dashboardRoutes(options: DashboardOptions): Map<string, RouteHandler> {
  const routes = new Map<string, RouteHandler>();
  for (const [file, type] of Object.entries(FILES)) {
    const body = readFileSync(new URL(`./${file}`, import.meta.url));
    const headers: Record<string, string> = {
      'content-type': type,
      // Revalidate each time: a server upgrade must not leave an old script running against a new API.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    };
    if (file === 'index.html') {
      headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
      headers['referrer-policy'] = 'no-referrer';
    }
    const handler: RouteHandler = () => new Response(body, { headers });
    if (file === 'index.html') {
      routes.set(DASHBOARD_PATH, handler);
      routes.set(`${DASHBOARD_PATH}/`, handler);
    } else {
      routes.set(`${DASHBOARD_PATH}/${file}`, handler);
    }
  }
  // The core's task-filter rule, which live.js runs as it is (one rule, no copy): its import
  // '../queue/task-filter-match.js' points here from /dashboard/live.js (src/queue/task-filter.ts).
  const filterRule = readFileSync(new URL('../queue/task-filter-match.js', import.meta.url));
  const scriptHeaders = { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  routes.set('/queue/task-filter-match.js', () => new Response(filterRule, { headers: scriptHeaders }));
  // The server's root has nothing else to show: send a browser to the dashboard.
  routes.set('/', () => new Response(null, { status: 302, headers: { location: DASHBOARD_PATH } }));
  const names = JSON.stringify({ names: options.taskNames });
  routes.set(
    `${DASHBOARD_PATH}/tasks.json`,
    () => new Response(names, { headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' } }),
  );
  return routes;
}
