/**
 * The scope rules, one home: what a principal's scopes allow. The GraphQL guard
 * (src/graphql/guard.ts) asks these for every operation; nothing else decides.
 */
import type { Principal, Scope } from './principal.js';
import { SCOPES } from './principal.js';

const ENQUEUE_GLOB = 'tasks:enqueue:';

/** Longest `tasks:enqueue:<glob>` scope, in characters (a task name is far shorter). */
export const MAX_SCOPE_LENGTH = 200;

/**
 * Whether `scope` is one a credential may carry: a known scope, or `tasks:enqueue:<glob>` with a
 * non-empty glob of printable characters (no whitespace: a JWT's `scope` claim is space-separated;
 * no control characters or lone surrogates, which PostgreSQL's text refuses (NUL) or mangles).
 */
export function isScope(scope: unknown): boolean {
  if (typeof scope !== 'string') return false;
  if ((SCOPES as readonly string[]).includes(scope)) return true;
  return (
    scope.startsWith(ENQUEUE_GLOB) &&
    scope.length > ENQUEUE_GLOB.length &&
    scope.length <= MAX_SCOPE_LENGTH &&
    !/[\s\p{Cc}\p{Cs}]/u.test(scope)
  );
}

/** Whether the principal holds `scope` (admin holds every scope). */
export function hasScope(principal: Principal, scope: Exclude<Scope, `tasks:enqueue:${string}`>): boolean {
  return principal.scopes.includes('admin') || principal.scopes.includes(scope);
}

/** Whether the principal may enqueue a task named `name`: `tasks:enqueue`, or a `tasks:enqueue:<glob>` matching it. */
export function mayEnqueue(principal: Principal, name: string): boolean {
  if (hasScope(principal, 'tasks:enqueue')) return true;
  return principal.scopes.some((s) => s.startsWith(ENQUEUE_GLOB) && globMatches(s.slice(ENQUEUE_GLOB.length), name));
}

/** Whether the principal may enqueue at least one task name (the mutation is open to it at all). */
export function mayEnqueueSome(principal: Principal): boolean {
  return hasScope(principal, 'tasks:enqueue') || principal.scopes.some((s) => s.startsWith(ENQUEUE_GLOB));
}

/**
 * The tenant whose tasks the principal sees: its own, or null for every tenant (admin, and
 * everyone while auth is off).
 */
export function visibleTenant(principal: Principal): string | null {
  return principal.scopes.includes('admin') ? null : principal.tenant;
}

/**
 * Whether task `id` is visible to a principal limited to some tasks (a read token); every id
 * is, to any other principal (its tenant still applies).
 */
export function mayReadTask(principal: Principal, id: string): boolean {
  // Task ids are UUIDs, which PostgreSQL reads in any case: `ABC…` is the same task as `abc…`.
  // Read tokens hold them lowercased (src/auth/read-tokens.ts).
  return principal.taskIds === undefined || principal.taskIds.includes(id.toLowerCase());
}

/**
 * `*` matches any run of characters (dots and line breaks included: `reports.*` matches
 * `reports.daily.pdf`); every other character matches itself.
 *
 * Not a RegExp: `a*a*a*a*b` as `^a.*a.*a.*a.*b$` backtracks polynomially on a long name, and
 * the glob comes from a credential. This is the linear-space two-pointer match, O(glob × name)
 * at worst: on a mismatch it only moves the last `*` on by one character.
 */
export function globMatches(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1; // position in glob of the last `*` seen
  let resume = 0; // position in name that `*` has consumed up to
  while (n < name.length) {
    if (g < glob.length && glob[g] === '*') {
      star = g++;
      resume = n;
    } else if (g < glob.length && glob[g] === name[n]) {
      g++;
      n++;
    } else if (star >= 0) {
      g = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}
