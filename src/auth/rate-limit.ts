/**
 * Per-principal limits (the enqueue rate, open subscriptions) and the failed-authentication
 * throttle per remote address. In memory, per process: pure, no timers (time is read from
 * `now`), bounded in size.
 */
import { isAppError, RateLimitedError } from '../errors.js';
import type { Principal } from './principal.js';

/** Limits of one principal (the GraphQL context's `limits`). */
export interface PrincipalLimits {
  /**
   * Takes `count` enqueues from the principal's budget. A batch larger than the burst passes
   * when the bucket is full and leaves it in debt, so later enqueues wait it off. Returns a refund:
   * the caller gives the tokens back when the enqueue stored nothing (a refused input, a replay
   * refused), so that a mistyped batch of 1,000 does not lock its credential out for minutes.
   * @throws RateLimitedError (with `retryAfterMs`) when the budget is spent.
   */
  takeEnqueue(count: number): () => void;
}

const NO_REFUND = (): void => undefined;

/** What the core refuses before it asks the database anything: an input's shape, name or arguments. */
const REFUSED_BEFORE_STORING = new Set(['BAD_USER_INPUT', 'UNKNOWN_TASK', 'INVALID_ARGUMENTS']);

/**
 * Runs an enqueue with `count` taken from the caller's budget first (a refused one stores nothing),
 * and given back when its input is refused before the database is asked (BAD_USER_INPUT,
 * UNKNOWN_TASK, INVALID_ARGUMENTS): nothing was stored, and nothing was spent but a check in
 * process. What the database refused (a key's CONFLICT, a replay refused after the insert ran) or
 * could not answer keeps its tokens: it cost a statement, and a free one could be sent without end.
 */
export async function withEnqueueBudget<T>(limits: PrincipalLimits, count: number, work: () => Promise<T>): Promise<T> {
  const refund = limits.takeEnqueue(count);
  try {
    return await work();
  } catch (error) {
    if (isAppError(error) && REFUSED_BEFORE_STORING.has(error.code)) refund();
    throw error;
  }
}

export interface PrincipalLimiter {
  /** The limits of `principal` (one shared budget per principal, however many requests). */
  forPrincipal(principal: Principal): PrincipalLimits;
  /**
   * Counts an open subscription of `principal`; call the returned function once when it ends
   * (a second call does nothing).
   * @throws RateLimitedError (retryAfterMs 1000) when the principal already holds the maximum.
   */
  openSubscription(principal: Principal): () => void;
  /**
   * Counts an open graphql-ws socket of `principal`, under the same maximum as its subscriptions (a
   * socket serves subscriptions; more sockets than those is idle memory): a security tester held
   * 3,000 idle sockets from one key (~18 KB each). Call the returned function once when it closes.
   * @throws RateLimitedError when the principal already holds the maximum.
   */
  openConnection(principal: Principal): () => void;
}

export interface PrincipalLimitsOptions {
  /** Enqueues per second per principal, with a burst of twice that; 0: no limit. */
  enqueueRatePerS: number;
  /** Open subscriptions per principal in this process; 0: no limit. */
  maxSubscriptionsPerPrincipal: number;
  /** Principals whose enqueue budget is remembered (default 10,000); past it, full buckets go first, then the least recently used. */
  maxPrincipals?: number;
  /** Clock in ms, for elapsed time only (default performance.now(): a wall clock stepped back a minute refused every principal's enqueues for the minute). */
  now?: () => number;
}

const monotonicNow = (): number => performance.now();

/** Wait suggested to a principal at its subscription cap, in ms: a slot frees when one of its subscriptions ends. */
export const SUBSCRIPTION_RETRY_AFTER_MS = 1000;

/** The limits of a caller nothing limits (auth off, or no limit set). */
export const UNLIMITED: PrincipalLimits = Object.freeze({ takeEnqueue: () => NO_REFUND });

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The key limits are counted under: the principal's kind, tenant and id, as a JSON array so that
 * no two principals share one (an id or a tenant may hold `:`; a JWT's `sub` is the issuer's to
 * choose, and the same `sub` in two tenants is two principals, as everywhere else). A read
 * token's id is its issuer's, so its issuer's kind and its task set are part of the key: each
 * browser watching its own task does not eat the issuer's budget (nor that of the other browsers).
 */
function limitKey(p: Principal): string {
  const key: unknown[] = [p.kind, p.tenant, p.id];
  if (p.kind === 'read-token') key.push(p.issuerKind ?? null, [...(p.taskIds ?? [])].sort());
  return JSON.stringify(key);
}

/** Token buckets and subscription counts per principal. ANONYMOUS (auth off) is never limited. */
export function createPrincipalLimits(options: PrincipalLimitsOptions): PrincipalLimiter {
  const now = options.now ?? monotonicNow;
  const rate = options.enqueueRatePerS;
  const burst = 2 * rate;
  const maxPrincipals = options.maxPrincipals ?? 10_000;
  const buckets = new Map<string, Bucket>();
  const subscriptions = new Map<string, number>();
  const connections = new Map<string, number>();

  /** One more open thing of `principal` in `open`, up to maxSubscriptionsPerPrincipal; the release once it ends. */
  const count = (open: Map<string, number>, principal: Principal, what: string): (() => void) => {
    const max = options.maxSubscriptionsPerPrincipal;
    if (principal.kind === 'anonymous' || max === 0) return () => undefined;
    const key = limitKey(principal);
    const held = open.get(key) ?? 0;
    if (held >= max) throw new RateLimitedError(`Too many open ${what} (at most ${max} per credential); end one first`, SUBSCRIPTION_RETRY_AFTER_MS);
    open.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (open.get(key) ?? 1) - 1;
      // Only keys with something open stay: the map is as large as what is open.
      if (left > 0) open.set(key, left);
      else open.delete(key);
    };
  };

  /** Tokens in the bucket at `t`, refilled since its last use, capped at the burst. */
  const level = (b: Bucket, t: number): number => Math.min(burst, b.tokens + ((t - b.at) * rate) / 1000);

  /**
   * Keeps the map bounded: a full bucket is the same as none, so those go first; then the least
   * recently used (a principal forgotten so gets a full burst again). Down to 90 %, so that a
   * stream of new principals at the bound does not scan the map on every call.
   */
  const evict = (t: number): void => {
    if (buckets.size <= maxPrincipals) return;
    const target = Math.floor(maxPrincipals * 0.9);
    for (const [key, b] of buckets) if (level(b, t) >= burst) buckets.delete(key);
    for (const key of buckets.keys()) {
      if (buckets.size <= target) break;
      buckets.delete(key);
    }
  };

  const takeEnqueue = (key: string, count: number): (() => void) => {
    const t = now();
    const bucket = buckets.get(key) ?? { tokens: burst, at: t };
    const tokens = level(bucket, t);
    // A batch larger than the burst could never fit: it passes on a full bucket instead.
    const needed = Math.min(count, burst);
    if (tokens < needed) {
      throw new RateLimitedError(`Enqueue rate limit reached (${rate}/s, bursts of ${burst}); try again later`, ((needed - tokens) * 1000) / rate);
    }
    // Re-inserted so the map's order is least recently used first (see evict).
    buckets.delete(key);
    buckets.set(key, { tokens: tokens - count, at: t });
    evict(t);
    let refunded = false;
    return () => {
      if (refunded) return;
      refunded = true;
      // Into the principal's bucket as it is now (later takes built on this one's debt); level() caps
      // it at the burst. A bucket evicted meanwhile is full again anyway.
      const bucket = buckets.get(key);
      if (bucket) bucket.tokens += count;
    };
  };

  return {
    forPrincipal(principal) {
      if (principal.kind === 'anonymous' || rate === 0) return UNLIMITED;
      const key = limitKey(principal);
      return { takeEnqueue: (count) => takeEnqueue(key, count) };
    },
    openSubscription: (principal) => count(subscriptions, principal, 'subscriptions'),
    openConnection: (principal) => count(connections, principal, 'connections'),
  };
}

export interface FailedAuthThrottle {
  /** @throws RateLimitedError (retryAfterMs: until the address's window ends) after `maxFailures` failures within the window. */
  check(address: string): void;
  /** Counts a failed authentication from `address`. */
  fail(address: string): void;
  /** A success from `address`: its failures are forgotten. */
  succeed(address: string): void;
}

export interface FailedAuthThrottleOptions {
  /** Failures allowed per address within a window; the next attempt is refused until the window ends. */
  maxFailures: number;
  /** Length of a window, in ms; it starts at an address's first failure. */
  windowMs: number;
  /** Addresses remembered (default 10,000); past it, ended windows go first, then the oldest. */
  maxAddresses?: number;
  /** Clock in ms, for elapsed time only (default performance.now()). */
  now?: () => number;
}

interface Failures {
  count: number;
  since: number;
}

/**
 * What the throttle counts an address under: an IPv4 address as it is (an IPv4-mapped IPv6 one as
 * its IPv4), an IPv6 address by its /64, the least a host is given: by exact address, one IPv6 host
 * rotated through 2^64 addresses and was never throttled (a tester's find), and filled the table.
 */
export function throttleKey(address: string): string {
  const bare = address.split('%')[0] ?? address;
  if (!bare.includes(':')) return bare;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1]) return mapped[1];
  const [head = '', tail] = bare.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16).toString(16) : g))
    .join(':')}::/64`;
}

/** Throttles failed authentications per remote address (an IPv6 one by its /64: throttleKey), guessing keys or tokens from one place. */
export function createFailedAuthThrottle(options: FailedAuthThrottleOptions): FailedAuthThrottle {
  const now = options.now ?? monotonicNow;
  const maxAddresses = options.maxAddresses ?? 10_000;
  const failures = new Map<string, Failures>();
  const current = (address: string, t: number): Failures | undefined => {
    const f = failures.get(address);
    return f && t - f.since < options.windowMs ? f : undefined;
  };
  /** Ended windows go first, then the oldest (insertion order is window-start order), down to 90 %. */
  const evict = (t: number): void => {
    if (failures.size <= maxAddresses) return;
    const target = Math.floor(maxAddresses * 0.9);
    for (const [address, f] of failures) if (t - f.since >= options.windowMs) failures.delete(address);
    for (const address of failures.keys()) {
      if (failures.size <= target) break;
      failures.delete(address);
    }
  };
  return {
    check(from) {
      const address = throttleKey(from);
      const t = now();
      const f = current(address, t);
      if (f && f.count >= options.maxFailures) {
        throw new RateLimitedError('Too many failed authentication attempts; try again later', f.since + options.windowMs - t);
      }
    },
    fail(from) {
      const address = throttleKey(from);
      const t = now();
      const f = current(address, t);
      if (f) {
        f.count += 1;
        return;
      }
      failures.delete(address);
      failures.set(address, { count: 1, since: t });
      evict(t);
    },
    succeed(from) {
      failures.delete(throttleKey(from));
    },
  };
}
