import type { Deps } from '../deps.js';

/** Placeholder until the GraphQL server lands (issue 3): logs that there is none yet. */
export async function startServer(deps: Deps): Promise<{ stop(): Promise<void> }> {
  deps.log.warn('the GraphQL server is not built yet; running the worker only');
  return { stop: async () => undefined };
}
