import type { Deps } from '../deps.js';
import { buildApp, type App } from './app.js';

export interface RunningServer {
  app: App;
  url: string;
  stop(): Promise<void>;
}

/** Serves GraphQL on config HOST:PORT (127.0.0.1:4000 by default) and logs where. */
export async function startServer(deps: Deps): Promise<RunningServer> {
  const app = buildApp(deps);
  const { url } = await app.start(deps.config.port, deps.config.host);
  deps.log.info({ url }, `GraphQL server listening on ${url}`);
  return {
    app,
    url,
    async stop() {
      await app.stop();
      deps.log.info('GraphQL server stopped');
    },
  };
}
