import { describe, expect, it, vi } from 'vitest';
import { ANONYMOUS, type Principal } from '../../src/auth/principal.js';
import { createFailedAuthThrottle, createPrincipalLimits, SUBSCRIPTION_RETRY_AFTER_MS, throttleKey, withEnqueueBudget } from '../../src/auth/rate-limit.js';
import { BadUserInputError, ConflictError, RateLimitedError, UnknownTaskError } from '../../src/errors.js';

const key = (id: string): Principal => ({ kind: 'api-key', id, tenant: 'acme', scopes: ['tasks:enqueue'] });

/** A clock the test moves by hand. */
function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** The RateLimitedError `fn` throws (the test fails when it throws nothing or something else). */
function rateLimited(fn: () => unknown): RateLimitedError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).code).toBe('RATE_LIMITED');
    return error as RateLimitedError;
  }
  throw new Error('expected RATE_LIMITED, nothing was thrown');
}

describe('createPrincipalLimits: the enqueue rate', () => {
  it('allows a burst of twice the rate, then refuses with the wait until one token is back', () => {
    const c = clock();
    const limits = createPrincipalLimits({ enqueueRatePerS: 10, maxSubscriptionsPerPrincipal: 0, now: c.now });
    const mine = limits.forPrincipal(key('a'));
    for (let i = 0; i < 20; i++) mine.takeEnqueue(1);
    expect(rateLimited(() => mine.takeEnqueue(1)).retryAfterMs).toBe(100);
    c.advance(60);
    expect(rateLimited(() => mine.takeEnqueue(1)).retryAfterMs).toBe(40);
    c.advance(40);
    mine.takeEnqueue(1);
    expect(() => mine.takeEnqueue(1)).toThrow(RateLimitedError);
  });

  it('refills at the rate, never beyond the burst', () => {
    const c = clock();
    const limits = createPrincipalLimits({ enqueueRatePerS: 10, maxSubscriptionsPerPrincipal: 0, now: c.now });
    const mine = limits.forPrincipal(key('a'));
    mine.takeEnqueue(20);
    c.advance(500);
    mine.takeEnqueue(5);
    expect(rateLimited(() => mine.takeEnqueue(1)).retryAfterMs).toBe(100);
    c.advance(3_600_000);
    mine.takeEnqueue(20);
    expect(() => mine.takeEnqueue(1)).toThrow(RateLimitedError);
  });

  it('gives back what an enqueue that stored nothing took, once, never past the burst', async () => {
    const c = clock();
    const limits = createPrincipalLimits({ enqueueRatePerS: 10, maxSubscriptionsPerPrincipal: 0, now: c.now });
    const mine = limits.forPrincipal(key('a'));
    const refund = mine.takeEnqueue(500);
    expect(() => mine.takeEnqueue(1)).toThrow(RateLimitedError);
    refund();
    refund();
    for (let i = 0; i < 20; i++) mine.takeEnqueue(1);
    expect(() => mine.takeEnqueue(1)).toThrow(RateLimitedError);
    // withEnqueueBudget: spent when the work succeeds, given back when the input was refused before the
    // database was asked, kept when the database refused or failed (a statement ran or may have).
    c.advance(2000);
    await expect(withEnqueueBudget(mine, 20, () => Promise.reject(new BadUserInputError('bad queue', { field: 'queue' })))).rejects.toThrow('bad queue');
    await expect(withEnqueueBudget(mine, 20, () => Promise.reject(new UnknownTaskError('nope')))).rejects.toThrow('nope');
    expect(await withEnqueueBudget(mine, 20, () => Promise.resolve('stored'))).toBe('stored');
    expect(() => mine.takeEnqueue(1)).toThrow(RateLimitedError);
    c.advance(2000);
    await expect(withEnqueueBudget(mine, 20, () => Promise.reject(new ConflictError('key taken')))).rejects.toThrow('key taken');
    expect(() => mine.takeEnqueue(1)).toThrow(RateLimitedError);
  });

  it('says how long a batch must wait for all of its tokens', () => {
    const c = clock();
    const limits = createPrincipalLimits({ enqueueRatePerS: 100, maxSubscriptionsPerPrincipal: 0, now: c.now });
    const mine = limits.forPrincipal(key('a'));
    mine.takeEnqueue(150);
    expect(rateLimited(() => mine.takeEnqueue(100)).retryAfterMs).toBe(500);
  });

  it('lets a batch larger than the burst through a full bucket, and makes later enqueues wait off the debt', () => {
    const c = clock();
    const limits = createPrincipalLimits({ enqueueRatePerS: 10, maxSubscriptionsPerPrincipal: 0, now: c.now });
    const mine = limits.forPrincipal(key('a'));
    mine.takeEnqueue(50);
    // 30 tokens owed: a full burst is back after (30 + 20) / 10 s; one token after 3.1 s.
    expect(rateLimited(() => mine.takeEnqueue(1)).retryAfterMs).toBe(3100);
    expect(rateLimited(() => mine.takeEnqueue(50)).retryAfterMs).toBe(5000);
  });

  it('keeps one budget per principal, shared by every request of it', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 1, maxSubscriptionsPerPrincipal: 0, now: clock().now });
    limits.forPrincipal(key('a')).takeEnqueue(2);
    expect(() => limits.forPrincipal(key('a')).takeEnqueue(1)).toThrow(RateLimitedError);
    limits.forPrincipal(key('b')).takeEnqueue(2);
    // A JWT subject that happens to equal an API key's id is another principal.
    limits.forPrincipal({ ...key('a'), kind: 'jwt' }).takeEnqueue(2);
  });

  it('never limits ANONYMOUS (auth off), nor anyone when the rate is 0', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 1, maxSubscriptionsPerPrincipal: 0, now: clock().now });
    for (let i = 0; i < 100; i++) limits.forPrincipal(ANONYMOUS).takeEnqueue(10);
    const off = createPrincipalLimits({ enqueueRatePerS: 0, maxSubscriptionsPerPrincipal: 0, now: clock().now });
    for (let i = 0; i < 100; i++) off.forPrincipal(key('a')).takeEnqueue(10);
  });

  it('stays bounded: past maxPrincipals the least recently used are forgotten (and get a full burst again)', () => {
    const c = clock();
    const limits = createPrincipalLimits({ enqueueRatePerS: 1, maxSubscriptionsPerPrincipal: 0, maxPrincipals: 10, now: c.now });
    limits.forPrincipal(key('p0')).takeEnqueue(2);
    for (let i = 1; i <= 10; i++) {
      limits.forPrincipal(key('p1')).takeEnqueue(0);
      limits.forPrincipal(key(`p${i + 1}`)).takeEnqueue(2);
    }
    // p1 was used all along and is still remembered; p0 was forgotten.
    expect(() => limits.forPrincipal(key('p1')).takeEnqueue(1)).not.toThrow();
    expect(() => limits.forPrincipal(key('p1')).takeEnqueue(2)).toThrow(RateLimitedError);
    limits.forPrincipal(key('p0')).takeEnqueue(2);
  });
});

describe('createPrincipalLimits: whose budget', () => {
  const jwt = (sub: string, tenant: string): Principal => ({ kind: 'jwt', id: sub, tenant, scopes: ['tasks:enqueue'] });

  it('gives one sub in two tenants two enqueue budgets; one sub in one tenant shares one (two tokens, one budget)', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 2, maxSubscriptionsPerPrincipal: 0, now: clock().now });
    for (let i = 0; i < 4; i++) limits.forPrincipal(jwt('user-1', 'acme')).takeEnqueue(1);
    rateLimited(() => limits.forPrincipal(jwt('user-1', 'acme')).takeEnqueue(1));
    for (let i = 0; i < 4; i++) limits.forPrincipal(jwt('user-1', 'globex')).takeEnqueue(1);
    rateLimited(() => limits.forPrincipal(jwt('user-1', 'globex')).takeEnqueue(1));
  });

  it('gives one sub in two tenants two subscription caps; one sub in one tenant shares one', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 0, maxSubscriptionsPerPrincipal: 2, now: clock().now });
    limits.openSubscription(jwt('user-1', 'acme'));
    limits.openSubscription(jwt('user-1', 'acme'));
    rateLimited(() => limits.openSubscription(jwt('user-1', 'acme')));
    limits.openSubscription(jwt('user-1', 'globex'));
    limits.openSubscription(jwt('user-1', 'globex'));
    rateLimited(() => limits.openSubscription(jwt('user-1', 'globex')));
  });

  it('counts graphql-ws sockets apart from subscriptions, under the same maximum, each slot freed once', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 0, maxSubscriptionsPerPrincipal: 2, now: clock().now });
    const p = jwt('user-1', 'acme');
    limits.openSubscription(p);
    limits.openSubscription(p);
    const first = limits.openConnection(p);
    limits.openConnection(p);
    expect(rateLimited(() => limits.openConnection(p)).message).toContain('Too many open connections (at most 2 per credential)');
    first();
    first();
    limits.openConnection(p);
    rateLimited(() => limits.openConnection(p));
    // Auth off: never counted.
    for (let i = 0; i < 5; i++) limits.openConnection({ kind: 'anonymous', id: 'anonymous', tenant: 'default', scopes: ['admin'] });
  });

  it('keeps principals apart whose kind, tenant and id would run together with a separator (ids and tenants may hold ":")', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 0, maxSubscriptionsPerPrincipal: 1, now: clock().now });
    limits.openSubscription(jwt('b:c', 'a'));
    limits.openSubscription(jwt('c', 'a:b'));
    limits.openSubscription({ kind: 'api-key', id: 'c', tenant: 'a:b', scopes: [] });
    const token = (id: string, tenant: string): Principal => ({ kind: 'read-token', id, tenant, scopes: ['tasks:read'], taskIds: ['t1'], issuerKind: 'jwt' });
    limits.openSubscription(token('user-1', 'acme'));
    limits.openSubscription(token('user-1', 'globex'));
    limits.openSubscription({ ...token('user-1', 'acme'), issuerKind: 'api-key' });
    rateLimited(() => limits.openSubscription(jwt('b:c', 'a')));
    rateLimited(() => limits.openSubscription(token('user-1', 'globex')));
  });
});

describe('createPrincipalLimits: open subscriptions', () => {
  it('refuses the subscription past the cap with RATE_LIMITED, and frees a slot on release', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 0, maxSubscriptionsPerPrincipal: 2, now: clock().now });
    const first = limits.openSubscription(key('a'));
    limits.openSubscription(key('a'));
    expect(rateLimited(() => limits.openSubscription(key('a'))).retryAfterMs).toBe(SUBSCRIPTION_RETRY_AFTER_MS);
    limits.openSubscription(key('b'));
    first();
    first();
    limits.openSubscription(key('a'));
    expect(() => limits.openSubscription(key('a'))).toThrow(RateLimitedError);
  });

  it('counts each read token\'s tasks apart, though every read token of an issuer has its id', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 0, maxSubscriptionsPerPrincipal: 1, now: clock().now });
    const token = (taskId: string): Principal => ({ kind: 'read-token', id: 'issuer', tenant: 'acme', scopes: ['tasks:read'], taskIds: [taskId] });
    limits.openSubscription(token('t1'));
    limits.openSubscription(token('t2'));
    limits.openSubscription(key('issuer'));
    expect(() => limits.openSubscription(token('t1'))).toThrow(RateLimitedError);
  });

  it('never limits ANONYMOUS, nor anyone when the cap is 0', () => {
    const limits = createPrincipalLimits({ enqueueRatePerS: 0, maxSubscriptionsPerPrincipal: 1, now: clock().now });
    for (let i = 0; i < 10; i++) limits.openSubscription(ANONYMOUS);
    const off = createPrincipalLimits({ enqueueRatePerS: 0, maxSubscriptionsPerPrincipal: 0, now: clock().now });
    for (let i = 0; i < 10; i++) off.openSubscription(key('a'));
  });
});

describe('the limits\' own clock', () => {
  it('is not the wall clock: a step back of a minute refuses nobody, and does not stretch a throttle window', () => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    try {
      const limits = createPrincipalLimits({ enqueueRatePerS: 1000, maxSubscriptionsPerPrincipal: 0 });
      const mine = limits.forPrincipal(key('stepped'));
      mine.takeEnqueue(1);
      // An NTP step, a VM resumed: the bucket read as deep in debt, every enqueue refused for the minute.
      vi.setSystemTime(Date.now() - 60_000);
      mine.takeEnqueue(1);
      const throttle = createFailedAuthThrottle({ maxFailures: 1, windowMs: 60_000 });
      throttle.fail('10.0.0.9');
      vi.setSystemTime(Date.now() - 60_000);
      expect(rateLimited(() => throttle.check('10.0.0.9')).retryAfterMs).toBeLessThanOrEqual(60_000);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('createFailedAuthThrottle', () => {
  it('counts an IPv6 address by its /64: a host rotating through its prefix is throttled as one', () => {
    const c = clock();
    const throttle = createFailedAuthThrottle({ maxFailures: 3, windowMs: 60_000, now: c.now });
    for (const a of ['2001:db8:1:2::1', '2001:db8:1:2::1e', '2001:0db8:0001:0002:ffff:0:0:9']) throttle.fail(a);
    expect(() => throttle.check('2001:db8:1:2:abcd::7')).toThrow(RateLimitedError);
    expect(() => throttle.check('2001:db8:1:3::1')).not.toThrow();
    expect(() => throttle.check('127.0.0.1')).not.toThrow();
    expect([throttleKey('2001:db8::1'), throttleKey('::1'), throttleKey('fe80::1%eth0'), throttleKey('::ffff:10.0.0.1'), throttleKey('10.0.0.1')]).toEqual([
      '2001:db8:0:0::/64',
      '0:0:0:0::/64',
      'fe80:0:0:0::/64',
      '10.0.0.1',
      '10.0.0.1',
    ]);
  });

  it('refuses an address after maxFailures failures until its window ends', () => {
    const c = clock();
    const throttle = createFailedAuthThrottle({ maxFailures: 3, windowMs: 60_000, now: c.now });
    for (let i = 0; i < 3; i++) {
      throttle.check('10.0.0.1');
      throttle.fail('10.0.0.1');
      c.advance(1000);
    }
    expect(rateLimited(() => throttle.check('10.0.0.1')).retryAfterMs).toBe(57_000);
    throttle.check('10.0.0.2');
    c.advance(57_000);
    throttle.check('10.0.0.1');
    throttle.fail('10.0.0.1');
    throttle.check('10.0.0.1');
  });

  it('forgets an address\'s failures when it succeeds', () => {
    const throttle = createFailedAuthThrottle({ maxFailures: 2, windowMs: 60_000, now: clock().now });
    throttle.fail('a');
    throttle.fail('a');
    expect(() => throttle.check('a')).toThrow(RateLimitedError);
    throttle.succeed('a');
    throttle.check('a');
  });

  it('stays bounded: past maxAddresses ended windows and then the oldest are forgotten', () => {
    const c = clock();
    const throttle = createFailedAuthThrottle({ maxFailures: 1, windowMs: 1000, maxAddresses: 10, now: c.now });
    throttle.fail('old');
    c.advance(10);
    for (let i = 0; i < 9; i++) throttle.fail(`other${i}`);
    throttle.fail('recent');
    // 11 addresses > 10: down to 9, the oldest windows first ('old', 'other0'); 'recent' is still refused.
    throttle.check('old');
    throttle.check('other0');
    expect(() => throttle.check('other1')).toThrow(RateLimitedError);
    expect(() => throttle.check('recent')).toThrow(RateLimitedError);
  });
});
