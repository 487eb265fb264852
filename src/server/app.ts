import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga, type GraphiQLOptions, type YogaLogger, type YogaServerInstance } from 'graphql-yoga';
import type { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { createGraphiQLPage, useGraphiQLFrameGuard } from '../dashboard/graphiql-page.js';
import { dashboardRoutes, withGraphiQLSignIn } from '../dashboard/serve.js';
import type { Deps } from '../deps.js';
import type { GraphQLContext } from '../graphql/context.js';
import { maskError } from '../graphql/errors.js';
import { useInputErrorFields } from '../graphql/input-errors.js';
import { DEFAULT_LIMITS, limitPlugins, type GraphQLLimits } from '../graphql/limits.js';
import { schema } from '../graphql/schema.js';
import type { Logger } from '../logger.js';
import type { EventLogFanoutStats } from './live/log-fanout.js';
import { createAppMetrics, type FanOutStats } from '../metrics/app-metrics.js';
import { BULK_CHANNEL } from '../queue/bulk-actions/channel.js';
import { EVENTS_CHANNEL } from '../queue/events.js';
import { WORKFLOWS_CHANNEL } from '../queue/workflows/channel.js';
import type { Runner } from '../worker/runner.js';
import { createOperationContexts } from './context.js';
import { createOutageLog } from './outage-log.js';
import { useCsrfPrevention } from './csrf.js';
import { createFastPath, fastPrincipalOf } from './fast-path.js';
import { withBodyLimit, type ServerContext } from './http.js';
import { useMediaTypeErrors } from './media-types.js';
import { useOperationMetrics } from './operation-metrics.js';
import { operationsRoutes } from './operations.js';
import { useRequestParams } from './request-params.js';
import { createTaskEventHub, type TaskEventStats } from './live/hub.js';
import { createWorkflowHub, type WorkflowHubStats } from './live/workflow-hub.js';
import { createBulkActionHub } from './live/bulk-action-hub.js';
import { corsFor, corsHeadersFor, createOriginPolicy, useOriginCheck } from './origins.js';
import { useRoutes } from './routes.js';
import { closingConnections } from './closing-connections.js';
import { countResponses } from './response-metrics.js';
import { createServerAuth, type ServerAuthOptions } from './server-auth.js';
import { useSharedSubscriptionResults } from './live/shared-results.js';
import { createSseStreams } from './live/sse-streams.js';
import { useGraphQLWs, type GraphQLWsServer } from './live/ws-server.js';
import type { WsHooks } from './live/ws-connection.js';
import { assertSafeToServe } from './start-rule.js';
import { OwnSockets, warmUp, type WarmUpReport } from './warm-up.js';
import { routeUpgrades } from './upgrade.js';

export type { TaskEventStats } from './live/hub.js';

export const GRAPHQL_PATH = '/graphql';

export interface AppOptions {
  /** Largest HTTP request body and WebSocket message, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Depth, cost, alias and token limits per operation (defaults: DEFAULT_LIMITS; GraphQL Armor's plugins). */
  limits?: Partial<GraphQLLimits>;
  /** graphql-ws ping interval, in ms (default 12,000); a client that misses a pong is dropped. */
  keepAliveMs?: number;
  /** graphql-ws's onConnect / onSubscribe seams (authentication plugs in here). */
  wsHooks?: WsHooks;
  /**
   * How long stop() waits at each step of its drain, in ms (default 1,000): the hubs' last reads,
   * the queries and mutations under way over graphql-ws, then those over HTTP.
   */
  drainMs?: number;
  /** This process's worker, if it runs one: `/metrics` counts and times its attempts. */
  runner?: Runner;
  /** How long `/readyz` waits for the database's `SELECT 1`, in ms (default 1,000). */
  readyTimeoutMs?: number;
  /**
   * Whether the process this server is part of is stopping: `/readyz` says 503 from then on, while
   * the worker beside it finishes its tasks and the server still delivers their last states (its
   * own stop() comes last). Default: only once stop() has begun.
   */
  processStopping?: () => boolean;
  /** The failed-auth throttle and the revocation check interval (AUTH_MODE=on; defaults in ServerAuthOptions). */
  auth?: ServerAuthOptions;
  /**
   * How long the live hubs keep LISTENing after their last subscriber has gone, in ms (default
   * LISTEN_IDLE_MS, 30 s). A server LISTENs only while someone subscribes (docs/decisions.md).
   */
  listenIdleMs?: number;
  /**
   * Longest warm-up after start() (SERVER_WARM_UP_MS; warm-up.ts), in ms; `/readyz` says 503
   * `warming` meanwhile. Default 0: none (`taskwire serve`, `npm start` and the bench pass the config's).
   */
  warmUpMs?: number;
}

export interface App {
  /** The yoga instance (`yoga.fetch(url, init)` runs a request without a socket). */
  yoga: YogaServerInstance<ServerContext, GraphQLContext>;
  /** Live counters of the subscription fan-out (see TaskEventStats). */
  stats: TaskEventStats;
  /** Live counters of the event log's fan-out (taskEvents, taskEventFeed). */
  logStats: EventLogFanoutStats;
  /** Live counters of the workflow fan-out (workflowChanged). */
  workflowStats: WorkflowHubStats;
  /** The prom-client registry behind `/metrics` (`getMetricsAsJSON()` reads it as data). */
  metrics: Registry;
  /**
   * Listens on `port` (default config PORT; 0 picks a free one) and `host` (default config HOST):
   * GraphQL over HTTP (POST, GET), SSE and graphql-ws on `/graphql`, GraphiQL for browsers;
   * the dashboard on `/dashboard`; `/metrics`, `/healthz` and `/readyz`.
   */
  start(port?: number, host?: string): Promise<{ url: string; port: number }>;
  /** The last start's warm-up (AppOptions.warmUpMs), once it has ended; undefined without one. */
  warmedUp(): Promise<WarmUpReport | undefined>;
  /**
   * Stops listening, answers the requests under way, hands out the hubs' last reads, then closes
   * every socket: graphql-ws with 1012 Service Restart, SSE answers ended without `event: complete`.
   * A subscription that has not reached its natural end gets no `complete` (it has not ended):
   * standard clients subscribe again, on the next server at the same address.
   */
  stop(): Promise<void>;
}

function yogaLogger(log: Logger, outage: (error: unknown) => boolean): YogaLogger {
  const child = log.child({ component: 'graphql' });
  const write = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) => {
    const [first, ...rest] = args;
    if (first instanceof Error) child[level]({ err: first }, rest.length > 0 ? String(rest[0]) : first.message);
    else child[level]({ details: rest.length > 0 ? rest : undefined }, String(first));
  };
  const error = write('error');
  // yoga logs each error it masks; one the database's outage caused is the outage log's.
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: (...args) => void (outage(args[0]) || error(...args)) };
}

/** The ws:// URL of the server's own endpoint at `address`: a loopback one where it listens on every address. */
function ownUrl(address: AddressInfo): string {
  const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  return `ws://${host.includes(':') ? `[${host}]` : host}:${address.port}${GRAPHQL_PATH}`;
}

/** The GraphQL server of one process, wired to the core through `deps`. Nothing listens until start(). */
export function buildApp(deps: Deps, options: AppOptions = {}): App {
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  const limits: GraphQLLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const idle = options.listenIdleMs !== undefined ? { listenIdleMs: options.listenIdleMs } : {};
  const hub = createTaskEventHub({ sql: deps.db.sql, queue: deps.queue, log: deps.log, ...idle });
  const workflowHub = createWorkflowHub({ sql: deps.db.sql, workflows: deps.queue.workflows, log: deps.log, ...idle });
  const bulkActionHub = createBulkActionHub({ sql: deps.db.sql, bulkActions: deps.queue.bulkActions, log: deps.log, ...idle });
  // Every kind of subscription counts as open: taskEvents and taskEventFeed are the event log's
  // fan-out's, workflowChanged and bulkActionChanged their hubs' (only taskStatusChanged was counted).
  const fanOut: FanOutStats = {
    get subscriptions() {
      return hub.stats.subscriptions + hub.logStats.subscriptions + workflowHub.stats.subscriptions + bulkActionHub.stats.subscriptions;
    },
    get events() {
      return hub.stats.events;
    },
    get readQueries() {
      return hub.stats.readQueries;
    },
    get delivered() {
      return hub.stats.delivered;
    },
    get reconnects() {
      return hub.stats.reconnects;
    },
  };
  const metrics = createAppMetrics({
    queue: deps.queue,
    stats: fanOut,
    eventLog: hub.logStats,
    listeners: { [EVENTS_CHANNEL]: hub.stats, [WORKFLOWS_CHANNEL]: workflowHub.stats, [BULK_CHANNEL]: bulkActionHub.stats },
    log: deps.log,
    runner: options.runner,
    rescuer: deps.rescuer,
    maintenance: [deps.rescuer, deps.cleaner, deps.scheduler, deps.bulkActionRunner],
    clock: deps.clock,
  });
  const own = new OwnSockets();
  const auth = createServerAuth(deps, { ...options.auth, ownSocket: (request, params) => own.owns(request, params) });
  const contexts = createOperationContexts({ queue: metrics.queue, hub, workflowHub, bulkActionHub, log: deps.log, readTokens: auth.readTokens, limiter: auth.limiter });
  const origins = createOriginPolicy({ allowed: deps.config.auth.corsOrigins, authOn: auth.on });
  let stopping = false;
  /** The warm-up under way or ended (start); `/readyz` says `warming` until it ends. */
  let warming: { done: boolean; report: Promise<WarmUpReport>; abort: AbortController } | undefined;
  /** The started server's: its answers end their connections from then on (closingConnections). */
  let closeConnections: (() => void) | undefined;
  const sse = createSseStreams();
  const outage = createOutageLog(deps.log.child({ component: 'graphql' }));
  const graphiqlOptions: GraphiQLOptions = { title: 'taskwire', subscriptionsProtocol: 'WS' };
  const graphiql = createGraphiQLPage(async () => withGraphiQLSignIn((await import('@graphql-yoga/render-graphiql')).renderGraphiQL(graphiqlOptions)));
  const routes = new Map([
    ...operationsRoutes({
      sql: deps.db.sql,
      log: deps.log,
      renderMetrics: () => metrics.render(),
      readyTimeoutMs: options.readyTimeoutMs ?? 1000,
      stopping: () => stopping || (options.processStopping?.() ?? false),
      warming: () => warming?.done === false,
      metricsAccess: { token: deps.config.auth.metricsToken, authOn: auth.on, origins },
    }),
    ...dashboardRoutes({ taskNames: deps.registry.names() }),
    ...(deps.config.graphiql ? graphiql.routes() : []),
  ]);
  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    // Per operation, from its principal (HTTP: its request's; graphql-ws: its socket's).
    // The fast path authenticates before yoga and leaves the principal in the initial context.
    context: (initial): GraphQLContext =>
      contexts.contextFor(fastPrincipalOf(initial) ?? auth.principalOf(initial as { request?: Request; socket?: unknown })),
    // A CORS grant only for CORS_ORIGINS (yoga's default reflects every origin, with credentials).
    cors: corsFor(origins),
    maskedErrors: { maskError },
    logging: yogaLogger(deps.log, outage),
    // One operation per request: a batch would multiply the per-operation limits.
    batching: false,
    // GRAPHIQL (off by default when NODE_ENV=production): a browser then gets no IDE, just GraphQL over HTTP.
    graphiql: deps.config.graphiql ? graphiqlOptions : false,
    // GraphiQL's scripts from the package, not yoga's default CDN links, so the page works offline,
    // served as cached files (graphiql-page.ts). Imported on the first visit: the module is ~9 MB of
    // script no other request needs.
    renderGraphiQL: () => graphiql.render(),
    landingPage: false,
    plugins: [
      useRoutes(routes, deps.log),
      useOriginCheck(origins, GRAPHQL_PATH),
      useGraphiQLFrameGuard(GRAPHQL_PATH),
      useCsrfPrevention(),
      useRequestParams(),
      ...auth.plugins,
      ...limitPlugins(limits),
      useSharedSubscriptionResults(),
      sse.plugin,
      useInputErrorFields(),
      useOperationMetrics(metrics.countOperation),
      // Last: it answers only what no parser or result processor before it took.
      useMediaTypeErrors(),
    ],
  });

  let server: Server | undefined;
  let ws: GraphQLWsServer | undefined;

  return {
    yoga,
    stats: hub.stats,
    logStats: hub.logStats,
    workflowStats: workflowHub.stats,
    metrics: metrics.registry,
    async start(port = deps.config.port, host = deps.config.host) {
      if (server) throw new Error('the server is already started');
      assertSafeToServe(deps.config.auth.mode, host);
      stopping = false;
      // They LISTEN only once someone subscribes: a server nobody watches pays no NOTIFY.
      await hub.start();
      await workflowHub.start();
      await bulkActionHub.start();
      const fast = createFastPath({ yoga, path: GRAPHQL_PATH, origins, authenticate: auth.httpPrincipal, log: deps.log, outage });
      const answers = closingConnections(
        countResponses(withBodyLimit(yoga, maxBodyBytes, { fast: fast.serve, corsHeaders: (req) => corsHeadersFor(origins, req.headers.origin) }), metrics.countResponse),
      );
      closeConnections = answers.close;
      const http = createServer(answers.listener);
      const wss = new WebSocketServer({ noServer: true, maxPayload: maxBodyBytes });
      routeUpgrades(http, wss, GRAPHQL_PATH, origins);
      ws = useGraphQLWs(wss, yoga, options.keepAliveMs ?? 12_000, auth.wsHooks(options.wsHooks));
      server = http;
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve();
        });
      });
      const address = http.address() as AddressInfo;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      const warmUpMs = options.warmUpMs ?? 0;
      if (warmUpMs > 0) {
        const abort = new AbortController();
        const report = warmUp({ url: ownUrl(address), own, timeoutMs: warmUpMs, log: deps.log.child({ component: 'warm-up' }) }, abort.signal);
        const current = { done: false, report, abort };
        warming = current;
        void report.then(() => {
          current.done = true;
        });
      }
      return { url: `http://${shownHost}:${address.port}${GRAPHQL_PATH}`, port: address.port };
    },
    warmedUp: async () => warming?.report,
    async stop() {
      const http = server;
      const drainMs = options.drainMs ?? 1000;
      server = undefined;
      stopping = true;
      // Its sockets close (and their ends are forgotten) while the server still answers their close frames.
      warming?.abort.abort();
      await warming?.report;
      // Order: stop accepting; hand out the hubs' last reads while the sockets are open; then close
      // the transports under the subscriptions without `complete` (graphql-ws: 1012, SSE: the body
      // ends), which says to clients that the connection, not the subscription, ended, so they
      // subscribe again; only then end the hubs, whose ends no client sees any more.
      const closed = http ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve();
      closeConnections?.();
      closeConnections = undefined;
      ws?.beginStop();
      await hub.settle(drainMs);
      await workflowHub.settle();
      await bulkActionHub.settle();
      await ws?.drain(drainMs);
      sse.stop();
      await ws?.dispose();
      ws = undefined;
      await hub.close(drainMs);
      await workflowHub.close(drainMs);
      await bulkActionHub.close(drainMs);
      if (http) {
        http.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, drainMs);
        });
        await Promise.race([closed, late]);
        clearTimeout(timer);
        http.closeAllConnections();
      }
      await closed;
      await yoga.dispose();
      auth.close();
      metrics.close();
    },
  };
}
