/**
 * Who is asking, as every layer above the core sees it: the result of authenticating a request
 * (src/auth/authenticate.ts) and the one input of every authorization decision (src/auth/scopes.ts).
 * No imports: the GraphQL layer, the server and the CLI share it.
 */

/** A scope of DESIGN Part 2 §B. `tasks:enqueue:<glob>` limits enqueueing to task names matching the glob. */
export type Scope = string;

/** Every scope a credential may carry, besides `tasks:enqueue:<glob>`. */
export const SCOPES = [
  'tasks:read',
  'tasks:enqueue',
  'tasks:cancel',
  'tasks:retry',
  'schedules:write',
  'queues:admin',
  'admin',
] as const;

/** The tenant of every task created while auth is off, and of a task enqueued by an admin who names none. */
export const DEFAULT_TENANT = 'default';

/** Longest tenant name, in characters. */
export const MAX_TENANT_LENGTH = 200;

/**
 * Whether `tenant` can name a tenant: 1 to MAX_TENANT_LENGTH characters, no control characters
 * or lone surrogates (PostgreSQL's text refuses NUL and mangles the others), no spaces at either
 * end (` acme` and `acme` would be two tenants nobody can tell apart), and not `*`, which the
 * server uses for "every tenant" where it keys shared subscription results.
 */
export function isTenant(tenant: unknown): tenant is string {
  return (
    typeof tenant === 'string' &&
    tenant.length > 0 &&
    tenant.length <= MAX_TENANT_LENGTH &&
    tenant !== '*' &&
    tenant.trim() === tenant &&
    !/[\p{Cc}\p{Cs}]/u.test(tenant)
  );
}

/** How the caller proved who it is. */
export type PrincipalKind =
  /** AUTH_MODE=off: everything is allowed, every task is visible (one tenant, `default`). */
  | 'anonymous'
  | 'api-key'
  | 'jwt'
  /** A read token (createReadToken / enqueueTask's readToken): read and subscribe to `taskIds` only. */
  | 'read-token';

export interface Principal {
  readonly kind: PrincipalKind;
  /** Who: the API key's id, the JWT's subject, the read token's issuer; `anonymous` while auth is off. Logged; never a secret. */
  readonly id: string;
  /** The tenant whose tasks it sees and creates. */
  readonly tenant: string;
  /** What it may do (see SCOPES); `admin` allows everything in every tenant. */
  readonly scopes: readonly Scope[];
  /** A read token's tasks: nothing else is visible to it. Undefined for every other kind. */
  readonly taskIds?: readonly string[];
  /** An API key's name (`taskwire keys create --name`), for people to read; undefined for other kinds and unnamed keys. */
  readonly name?: string;
  /** When the credential stops being valid; open subscriptions end then (graphql-ws close 4403). Undefined: never. */
  readonly expiresAt?: Date;
  /**
   * A read token's: how its issuer (`id`) authenticated. A read token made with an API key stops
   * working when that key is revoked or expires (src/auth/authenticate.ts). Undefined for every other kind.
   */
  readonly issuerKind?: PrincipalKind;
}

/** The principal of every request while AUTH_MODE=off. */
export const ANONYMOUS: Principal = Object.freeze({
  kind: 'anonymous',
  id: 'anonymous',
  tenant: DEFAULT_TENANT,
  scopes: Object.freeze(['admin']),
});
