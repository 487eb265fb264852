import type { Deps } from '../deps.js';
import { DASHBOARD_PATH } from '../dashboard/serve.js';
import { buildApp, GRAPHQL_PATH, type App, type AppOptions } from './app.js';

export interface RunningServer {
  app: App;
  url: string;
  stop(): Promise<void>;
}

/** Serves GraphQL on config HOST:PORT (127.0.0.1:4000 by default) and logs where. */
export async function startServer(deps: Deps, options: AppOptions = {}): Promise<RunningServer> {
  const app = buildApp(deps, { warmUpMs: deps.config.serverWarmUpMs, ...options });
  const { url } = await app.start(deps.config.port, deps.config.host);
  const dashboard = `${url.slice(0, -GRAPHQL_PATH.length)}${DASHBOARD_PATH}`;
  deps.log.info({ url, dashboard }, `GraphQL server listening on ${url}; dashboard on ${dashboard}`);
  return {
    app,
    url,
    async stop() {
      await app.stop();
      deps.log.info('GraphQL server stopped');
    },
  };
}
