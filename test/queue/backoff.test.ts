import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, checkBackoff, DEFAULT_BACKOFF, exponentialDelayMs } from '../../src/queue/backoff.js';

const low = (): number => 0;
const high = (): number => 0.999_999;
const middle = (): number => 0.5;

describe('exponentialDelayMs', () => {
  it('starts at baseMs and grows by the factor per step', () => {
    const delays = [0, 1, 2, 3].map((step) => exponentialDelayMs(step, { baseMs: 100, maxMs: 10_000, factor: 3 }));
    expect(delays).toEqual([100, 300, 900, 2700]);
  });

  it('doubles by default and stops at maxMs', () => {
    const delays = [0, 1, 2, 3, 4, 50].map((step) => exponentialDelayMs(step, { baseMs: 100, maxMs: 500 }));
    expect(delays).toEqual([100, 200, 400, 500, 500, 500]);
  });

  it('gives maxMs for huge steps instead of Infinity or NaN', () => {
    for (const step of [1_000, 10_000, 1e9, Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY]) {
      expect([step, exponentialDelayMs(step, { baseMs: 1000, maxMs: 60_000, factor: 10 })]).toEqual([step, 60_000]);
    }
  });

  it('gives 0 rather than NaN when the base is 0, however large the step', () => {
    expect(exponentialDelayMs(10_000, { baseMs: 0, maxMs: 60_000, factor: 100 })).toBe(0);
  });

  it('treats a step that is negative, fractional or NaN as the nearest step at or below it, from 0', () => {
    const delay = { baseMs: 100, maxMs: 10_000 };
    expect([-5, Number.NEGATIVE_INFINITY, Number.NaN, 1.9].map((step) => exponentialDelayMs(step, delay))).toEqual([100, 100, 100, 200]);
  });

  it('spreads the delay by ±jitter and keeps maxMs as a ceiling', () => {
    const delay = { baseMs: 1000, maxMs: 4000, jitter: 0.5 };
    expect(exponentialDelayMs(0, { ...delay, random: low })).toBe(500);
    expect(exponentialDelayMs(0, { ...delay, random: middle })).toBe(1000);
    expect(exponentialDelayMs(0, { ...delay, random: high })).toBe(1500);
    // At the cap the jitter applies to maxMs and can only shorten the wait.
    expect(exponentialDelayMs(10, { ...delay, random: low })).toBe(2000);
    expect(exponentialDelayMs(10, { ...delay, random: high })).toBe(4000);
  });

  it('clamps settings that make no sense instead of returning NaN or a negative delay', () => {
    expect(exponentialDelayMs(3, { baseMs: -10, maxMs: 1000 })).toBe(0);
    expect(exponentialDelayMs(3, { baseMs: 10, maxMs: Number.NaN })).toBe(0);
    expect(exponentialDelayMs(3, { baseMs: 10, maxMs: 1000, factor: 0.5 })).toBe(10);
    expect(exponentialDelayMs(3, { baseMs: 10, maxMs: 1000, factor: Number.POSITIVE_INFINITY })).toBe(1000);
    expect(exponentialDelayMs(0, { baseMs: 100, maxMs: 1000, jitter: 5, random: low })).toBe(0);
    expect(exponentialDelayMs(0, { baseMs: 100, maxMs: 1000, jitter: 0.5, random: () => Number.NaN })).toBe(50);
  });

  it('always returns a whole number of ms within [0, maxMs], NaN settings included', () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: false }),
        fc.record({
          baseMs: fc.double({ min: -1, max: 1e12 }),
          maxMs: fc.double({ min: -1, max: 1e12 }),
          factor: fc.double({ min: 0, max: 1e6 }),
          jitter: fc.double({ min: 0, max: 1 }),
        }),
        fc.double({ min: 0, max: 1, maxExcluded: true }),
        (step, delay, r) => {
          const ms = exponentialDelayMs(step, { ...delay, random: () => r });
          return Number.isInteger(ms) && ms >= 0 && ms <= (delay.maxMs > 0 ? delay.maxMs : 0);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('backoffDelayMs', () => {
  it('waits baseMs after the first attempt, then grows by the factor', () => {
    const backoff = { baseMs: 100, maxMs: 100_000, factor: 2, jitter: 0 };
    expect([1, 2, 3, 4].map((attempt) => backoffDelayMs(backoff, attempt))).toEqual([100, 200, 400, 800]);
  });

  it('fills what the task does not say from DEFAULT_BACKOFF (about 1 s, doubling, ±25 %)', () => {
    expect(backoffDelayMs(null, 1, middle)).toBe(DEFAULT_BACKOFF.baseMs);
    expect(backoffDelayMs(undefined, 2, low)).toBe(1500);
    expect(backoffDelayMs({ baseMs: 10 }, 3, high)).toBe(50);
    // A key present but undefined (a definition's Partial<Backoff>) does not erase the default.
    expect(backoffDelayMs({ baseMs: undefined, jitter: 0 }, 1)).toBe(1000);
  });

  it('gives maxMs at attempt 10,000 with factor 10, not Infinity or NaN', () => {
    const backoff = { baseMs: 1000, maxMs: 600_000, factor: 10, jitter: 0 };
    expect(backoffDelayMs(backoff, 10_000)).toBe(600_000);
    expect(backoffDelayMs({ ...backoff, jitter: 0.25 }, 10_000, low)).toBe(450_000);
    expect(backoffDelayMs({ ...backoff, baseMs: 0 }, 10_000)).toBe(0);
  });

  it('applies the jitter to the capped delay, within ±jitter and never past maxMs', () => {
    const backoff = { baseMs: 1000, maxMs: 5000, factor: 2, jitter: 0.2 };
    // Attempt 2: 2000 ± 20 %.
    expect([low, middle, high].map((r) => backoffDelayMs(backoff, 2, r))).toEqual([1600, 2000, 2400]);
    // Attempt 20: capped at 5000 first, then jittered down only.
    expect([low, middle, high].map((r) => backoffDelayMs(backoff, 20, r))).toEqual([4000, 5000, 5000]);
  });

  it('treats attempt 0 or less as the first', () => {
    const backoff = { baseMs: 300, maxMs: 1000, factor: 2, jitter: 0 };
    expect([0, -1].map((attempt) => backoffDelayMs(backoff, attempt))).toEqual([300, 300]);
  });
});

describe('checkBackoff', () => {
  it('keeps the known settings in range', () => {
    expect(checkBackoff({ baseMs: 5, maxMs: 10, factor: 1.5, jitter: undefined })).toEqual({ baseMs: 5, maxMs: 10, factor: 1.5 });
  });

  it.each([
    ['not an object', 5, 'backoff'],
    ['an unknown key', { delay: 1 }, 'backoff.delay'],
    ['a factor over 100', { factor: 101 }, 'backoff.factor'],
    ['a NaN base', { baseMs: Number.NaN }, 'backoff.baseMs'],
    ['a negative max', { maxMs: -1 }, 'backoff.maxMs'],
  ])('refuses %s with BAD_USER_INPUT naming the field', (_label, value, field) => {
    try {
      checkBackoff(value);
    } catch (error) {
      expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field });
      return;
    }
    throw new Error('checkBackoff accepted it');
  });
});
