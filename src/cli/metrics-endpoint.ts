import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deps } from '../deps.js';
import { createAppMetrics } from '../metrics/app-metrics.js';
import { operationsRoutes } from '../server/operations.js';
import { createOriginPolicy } from '../server/origins.js';
import { countResponses } from '../server/response-metrics.js';
import { isLoopbackHost } from '../server/start-rule.js';
import type { RouteHandler } from '../server/routes.js';
import type { Service } from '../service.js';
import type { Runner } from '../worker/runner.js';

export interface MetricsEndpoint extends Service {
  /** `http://host:port` once started. */
  readonly url: string | undefined;
}

/** A worker process has no subscription fan-out: its counters stay at zero. */
const NO_FAN_OUT = { subscriptions: 0, events: 0, readQueries: 0, delivered: 0, reconnects: 0 };

/**
 * `/metrics`, `/healthz` and `/readyz` of a process that runs no GraphQL server (`taskwire
 * worker`), on their own port: the same routes and the families a server has (its worker's
 * attempts, the queue's depth, process basics; docs/operations.md lists what differs), so one
 * scrape config fits every process.
 */
export function createMetricsEndpoint(
  deps: Deps,
  p: { port: number; host: string; runner: Runner | undefined; processStopping?: () => boolean },
): MetricsEndpoint {
  const metrics = createAppMetrics({ queue: deps.queue, stats: NO_FAN_OUT, log: deps.log, runner: p.runner, rescuer: deps.rescuer, maintenance: [deps.rescuer, deps.cleaner, deps.scheduler, deps.bulkActionRunner], clock: deps.clock });
  const authOn = deps.config.auth.mode === 'on';
  // Listening on loopback, a server's rule against DNS rebinding; on another address (a container's
  // port, scraped by its IP) any Host is expected, and the network is what guards it.
  const origins = isLoopbackHost(p.host) ? createOriginPolicy({ allowed: deps.config.auth.corsOrigins, authOn }) : undefined;
  let stopping = false;
  const routes = operationsRoutes({
    sql: deps.db.sql,
    log: deps.log,
    renderMetrics: () => metrics.render(),
    readyTimeoutMs: 1000,
    // From the process's first step of its stop (the worker's grace comes before this endpoint's stop).
    stopping: () => stopping || (p.processStopping?.() ?? false),
    // The same rule as a server's /metrics: METRICS_TOKEN, and closed with auth on and no token.
    metricsAccess: { token: deps.config.auth.metricsToken, authOn, ...(origins ? { origins } : {}) },
  });
  const server = createServer(countResponses((req, res) => void answer(routes.get(new URL(req.url ?? '/', 'http://x').pathname), req, res), metrics.countResponse));
  let url: string | undefined;

  async function answer(handler: RouteHandler | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!handler) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return void res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method Not Allowed\n');
      }
      const headers = req.headers.authorization === undefined ? undefined : { authorization: req.headers.authorization };
      const response = await handler(new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, { method: req.method, headers }));
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(req.method === 'HEAD' ? undefined : await response.text());
    } catch (error) {
      // A throw here would be an unhandled rejection, which ends the process.
      deps.log.error({ err: error, path: req.url }, 'metrics endpoint failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Internal Server Error\n');
    }
  }

  return {
    get url() {
      return url;
    },
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p.port, p.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
      deps.log.info({ url: `${url}/metrics` }, `metrics on ${url}/metrics`);
    },
    async stop() {
      stopping = true;
      metrics.close();
      if (!server.listening) return;
      // Scrapes are short: close idle keep-alive sockets at once rather than wait for their timeout.
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
