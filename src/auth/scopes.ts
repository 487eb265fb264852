/**
 * The scope rules, one home: what a principal's scopes allow. The GraphQL guard
 * (src/graphql/guard.ts) asks these for every operation; nothing else decides.
 */
import type { Principal, Scope } from './principal.js';
import { SCOPES } from './principal.js';

const ENQUEUE_GLOB = 'tasks:enqueue:';

/** Whether `scope` is one a credential may carry (a known scope, or `tasks:enqueue:<glob>` with a non-empty glob). */
export function isScope(scope: string): boolean {
  if ((SCOPES as readonly string[]).includes(scope)) return true;
  return scope.startsWith(ENQUEUE_GLOB) && scope.length > ENQUEUE_GLOB.length && !/\s/.test(scope);
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
  return principal.taskIds === undefined || principal.taskIds.includes(id);
}

/**
 * `*` matches any run of characters (dots included: `reports.*` matches `reports.daily.pdf`);
 * every other character matches itself.
 */
export function globMatches(glob: string, name: string): boolean {
  const pattern = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${pattern}$`).test(name);
}
