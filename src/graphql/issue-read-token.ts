import type { Task } from '../queue/task.js';
import type { GraphQLContext } from './context.js';

/** A read token as the API hands it out (GraphQL type ReadToken). */
export interface IssuedReadToken {
  token: string;
  expiresAt: Date;
}

/**
 * A read token for `tasks` (one tenant's), from the context's issuer, valid `ttlSeconds`
 * (default READ_TOKEN_TTL_S); null while auth is off (no issuer). The token's tenant is the
 * tasks': for an admin, who sees every tenant, that may differ from its own, and the reader the
 * token is handed to must see the tasks' tenant, nothing else.
 */
export async function issueReadToken(ctx: GraphQLContext, tasks: readonly Task[], ttlSeconds?: number): Promise<IssuedReadToken | null> {
  const first = tasks[0];
  if (!ctx.readTokens || !first) return null;
  return ctx.readTokens.issue({ ...ctx.principal, tenant: first.tenant }, tasks.map((task) => task.id), ttlSeconds);
}
