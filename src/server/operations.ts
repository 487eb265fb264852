import { createHash, timingSafeEqual } from 'node:crypto';
import { prometheusContentType as PROMETHEUS_CONTENT_TYPE } from 'prom-client';
import type { Sql } from '../db/client.js';
import type { Logger } from '../logger.js';
import { checkDatabase } from './health.js';
import type { RouteHandler } from './routes.js';
import type { OriginPolicy } from './origins.js';

export interface OperationsOptions {
  sql: Sql;
  log: Logger;
  /** The `/metrics` text. */
  renderMetrics(): Promise<string>;
  /** Longest wait for `/readyz`'s `SELECT 1`, in ms. */
  readyTimeoutMs: number;
  /** True once the server is stopping: `/readyz` says 503 so a load balancer stops sending. */
  stopping(): boolean;
  /** True while the server warms up after its start (warm-up.ts): `/readyz` says 503 `warming`. */
  warming?(): boolean;
  /** Who may read `/metrics`. */
  metricsAccess: MetricsAccess;
}

/** `/metrics` access: METRICS_TOKEN and AUTH_MODE (docs/auth.md). */
export interface MetricsAccess {
  /** The bearer token `/metrics` requires; undefined: none. */
  token: string | undefined;
  /** AUTH_MODE=on: without a token, `/metrics` is closed rather than open. */
  authOn: boolean;
  /**
   * The GraphQL endpoint's Origin and Host rule (origins.ts), if it applies here: while auth is off
   * a DNS-rebinding page would otherwise read the labels (queues, task names).
   */
  origins?: OriginPolicy;
}

const json = (status: number, body: unknown): Response =>
  new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The refusal of a `/metrics` request, or undefined when it may read. With METRICS_TOKEN it needs
 * `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise, compared in constant time); with auth on
 * and no token it is closed (403): its labels name queues and task names, which a deployment
 * that asks for credentials does not hand out to whoever asks.
 */
export function refuseMetrics(request: Request, access: MetricsAccess): Response | undefined {
  const refused = access.origins?.refusal(request.headers.get('origin'), new URL(request.url).host);
  if (refused !== undefined) {
    return new Response(`${refused}: /metrics is refused\n`, { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
  }
  if (access.token === undefined) {
    if (!access.authOn) return undefined;
    return new Response('/metrics is closed while AUTH_MODE=on: set METRICS_TOKEN and scrape with Authorization: Bearer <METRICS_TOKEN>\n', {
      status: 403,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
    });
  }
  const match = /^Bearer +(\S+) *$/i.exec(request.headers.get('authorization') ?? '');
  // Digests, so the comparison takes the same time whatever the length of the guess.
  if (match && timingSafeEqual(sha256(match[1] as string), sha256(access.token))) return undefined;
  return new Response('/metrics needs Authorization: Bearer <METRICS_TOKEN>\n', {
    status: 401,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'www-authenticate': 'Bearer realm="metrics"' },
  });
}

/** `/healthz` (the process answers), `/readyz` (the database answers too) and `/metrics`. */
export function operationsRoutes(o: OperationsOptions): Map<string, RouteHandler> {
  let lastReady = true;
  return new Map<string, RouteHandler>([
    ['/healthz', () => json(200, { status: 'ok' })],
    [
      '/readyz',
      async () => {
        if (o.stopping()) return json(503, { status: 'stopping' });
        if (o.warming?.()) return json(503, { status: 'warming' });
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
      async (request) =>
        refuseMetrics(request, o.metricsAccess) ??
        new Response(await o.renderMetrics(), {
          status: 200,
          headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' },
        }),
    ],
  ]);
}
