import { CreateReadTokenDocument } from './generated/graphql.js';
import type { HttpTransport } from './http.js';
import type { Task } from './task-state.js';

/**
 * A signed, short-lived credential good only to read and watch some tasks (docs/auth.md "Read
 * tokens"): hand `token` to a browser, which passes it to its own client as `getToken`.
 */
export interface ReadToken {
  token: string;
  /** When it stops working (ISO-8601). */
  expiresAt: string;
}

/** What `enqueue(…, { readToken: true })` resolves with: `enqueueTask`'s payload. */
export interface EnqueuedWithReadToken {
  task: Task;
  /** A read token for this task alone (the server's READ_TOKEN_TTL_S, default 3600 s); null while the server's AUTH_MODE=off. */
  readToken: string | null;
}

export interface CreateReadTokenOptions {
  /** Its lifetime in seconds, 1..86,400 (default: the server's READ_TOKEN_TTL_S, 3600), never past the caller's own credential's expiry. */
  ttlSeconds?: number;
}

/** The read-token method of TaskwireClient. */
export interface ReadTokenClient {
  /**
   * A read token for these tasks (1..100, each one the caller can read): `createReadToken`. Needs
   * `tasks:read`; an id the caller cannot see is `NOT_FOUND` naming `taskIds[i]`; with the server's
   * AUTH_MODE=off there are no read tokens (`FORBIDDEN`).
   */
  createReadToken(taskIds: string | readonly string[], options?: CreateReadTokenOptions): Promise<ReadToken>;
}

/** The read-token method, over the client's HTTP transport. */
export function createReadTokenMethods({ http, lifetime }: { http: HttpTransport; lifetime: AbortSignal }): ReadTokenClient {
  return {
    async createReadToken(taskIds, options = {}) {
      const variables = { taskIds: typeof taskIds === 'string' ? [taskIds] : [...taskIds], ttlSeconds: options.ttlSeconds ?? null };
      return (await http.request(CreateReadTokenDocument, variables, lifetime)).createReadToken;
    },
  };
}
