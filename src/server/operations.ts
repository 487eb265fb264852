import { prometheusContentType as PROMETHEUS_CONTENT_TYPE } from 'prom-client';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import { checkDatabase } from './health.js';
import type { RouteHandler } from './routes.js';

export interface OperationsOptions {
  sql: Sql;
  log: Logger;
  /** The `/metrics` text. */
  renderMetrics(): Promise<string>;
  /** Longest wait for `/readyz`'s `SELECT 1`, in ms. */
  readyTimeoutMs: number;
  /** True once the server is stopping: `/readyz` says 503 so a load balancer stops sending. */
  stopping(): boolean;
}

const json = (status: number, body: unknown): Response =>
  new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });

/** `/healthz` (the process answers), `/readyz` (the database answers too) and `/metrics`. */
export function operationsRoutes(o: OperationsOptions): Map<string, RouteHandler> {
  let lastReady = true;
  return new Map<string, RouteHandler>([
    ['/healthz', () => json(200, { status: 'ok' })],
    [
      '/readyz',
      async () => {
        if (o.stopping()) return json(503, { status: 'stopping' });
        const { cause, ...database } = await checkDatabase(o.sql, o.readyTimeoutMs);
        // Logged on a change only: a probe every few seconds would flood the log.
        if (database.ok !== lastReady) {
          lastReady = database.ok;
          if (database.ok) o.log.info('ready: the database answers again');
          else o.log.warn({ err: cause, error: database.error, timeoutMs: o.readyTimeoutMs }, 'not ready: the database does not answer');
        }
        return json(database.ok ? 200 : 503, { status: database.ok ? 'ready' : 'unavailable', database });
      },
    ],
    [
      '/metrics',
      async () =>
        new Response(await o.renderMetrics(), {
          status: 200,
          headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' },
        }),
    ],
  ]);
}
