import { describe, expect, it } from 'vitest';
import { claimAhead, MAX_CLAIM_AHEAD, nextAverageRunMs, tasksToClaim, type ClaimState } from '../../src/worker/claim-policy.js';

const idle: ClaimState = { concurrency: 10, running: 0, waiting: 0, recording: 0, averageRunMs: undefined, prefetchMs: 10 };

describe('claimAhead', () => {
  it('claims nothing ahead while the run time is unknown', () => {
    expect(claimAhead(idle)).toBe(0);
  });

  it('claims nothing ahead with prefetchMs 0, however fast the handlers', () => {
    expect(claimAhead({ ...idle, averageRunMs: 0.1, prefetchMs: 0 })).toBe(0);
  });

  it('holds what the slots start within prefetchMs', () => {
    // 2 slots, 0.5 ms a task: 40 tasks start within 10 ms.
    expect(claimAhead({ concurrency: 2, averageRunMs: 0.5, prefetchMs: 10 })).toBe(40);
    // Handlers slower than prefetchMs: nothing ahead.
    expect(claimAhead({ concurrency: 2, averageRunMs: 60, prefetchMs: 10 })).toBe(0);
  });

  it(`never holds more than ${MAX_CLAIM_AHEAD}, even for handlers that take no measurable time`, () => {
    expect(claimAhead({ concurrency: 10, averageRunMs: 0, prefetchMs: 10 })).toBe(MAX_CLAIM_AHEAD);
  });
});

describe('tasksToClaim', () => {
  it('fills the free slots of a fresh worker, and no more', () => {
    expect(tasksToClaim(idle)).toBe(10);
    expect(tasksToClaim({ ...idle, running: 7 })).toBe(3);
    expect(tasksToClaim({ ...idle, running: 10 })).toBe(0);
  });

  it('adds the lead to the free slots for fast handlers', () => {
    expect(tasksToClaim({ ...idle, concurrency: 2, averageRunMs: 0.5 })).toBe(42);
  });

  it('tops the lead up only once a quarter of it is used', () => {
    const fast = { ...idle, concurrency: 2, running: 2, averageRunMs: 0.5 }; // a lead of 40
    expect(tasksToClaim({ ...fast, waiting: 35 })).toBe(0); // 5 used: wait
    expect(tasksToClaim({ ...fast, waiting: 30 })).toBe(10); // 10 used: top up
  });

  it('claims for a freed slot at once when nothing waits, however small the want', () => {
    expect(tasksToClaim({ ...idle, concurrency: 2, running: 1, averageRunMs: 0.05, waiting: 0 })).toBe(401);
    expect(tasksToClaim({ ...idle, running: 9 })).toBe(1);
  });

  it('counts attempts whose outcome is still being written as in hand', () => {
    expect(tasksToClaim({ ...idle, recording: 10 })).toBe(0);
    expect(tasksToClaim({ ...idle, running: 4, recording: 4 })).toBe(2);
  });
});

describe('nextAverageRunMs', () => {
  it('starts at the first run and then moves a fifth of the way towards each new one', () => {
    expect(nextAverageRunMs(undefined, 20)).toBe(20);
    expect(nextAverageRunMs(10, 20)).toBe(12);
    expect(nextAverageRunMs(10, 0)).toBe(8);
  });
});
