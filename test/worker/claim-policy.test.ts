import { describe, expect, it } from 'vitest';
import { claimAhead, leadMs, MAX_CLAIM_AHEAD, nextAverageRunMs, RunTimes, tasksToClaim, waitingToKeep, type ClaimState } from '../../src/worker/claim-policy.js';

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

  it('sizes the lead by the slots that should free up: none ahead behind slots held by long attempts', () => {
    // 10 slots, 8 of them held by attempts that have run long: the lead is what 2 slots start.
    expect(claimAhead({ concurrency: 10, averageRunMs: 1, prefetchMs: 10, cyclingSlots: 2 })).toBe(20);
    expect(claimAhead({ concurrency: 10, averageRunMs: 1, prefetchMs: 10, cyclingSlots: 0 })).toBe(0);
    // Every slot busy with long attempts, none free: nothing to claim at all.
    expect(tasksToClaim({ ...idle, running: 10, averageRunMs: 1, cyclingSlots: 0 })).toBe(0);
    // A slot that frees among them is filled, and nothing more.
    expect(tasksToClaim({ ...idle, running: 9, averageRunMs: 1, cyclingSlots: 1 })).toBe(1 + 10);
    expect(tasksToClaim({ ...idle, running: 9, averageRunMs: 1, cyclingSlots: 0 })).toBe(1);
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

describe('leadMs', () => {
  const quiet = { prefetchMs: 10, claimMs: undefined, recordMs: undefined, releaseWaitingAfterMs: 1000 };

  it('is WORKER_PREFETCH_MS before any round trip was timed', () => {
    expect(leadMs(quiet)).toBe(10);
  });

  it('reaches past the claim and the write round trips, which hold tasks in hand without a slot', () => {
    expect(leadMs({ ...quiet, claimMs: 120, recordMs: 250 })).toBe(380);
    // 50 slots of 20 ms handlers at ~100 ms commits: 25 ahead by WORKER_PREFETCH_MS, used up by 75
    // being written; 575 ahead by a lead of 230 ms, the 75 counted out of it.
    const state = { concurrency: 50, running: 50, waiting: 0, recording: 75, averageRunMs: 20 };
    expect(tasksToClaim({ ...state, prefetchMs: leadMs(quiet) })).toBe(0);
    expect(tasksToClaim({ ...state, prefetchMs: leadMs({ ...quiet, claimMs: 100, recordMs: 120 }) })).toBe(575 - 75);
  });

  it('stops at half of releaseWaitingAfterMs, past which a waiting task goes back', () => {
    expect(leadMs({ ...quiet, claimMs: 900, recordMs: 2000 })).toBe(500);
    expect(leadMs({ ...quiet, prefetchMs: 800, claimMs: 50, recordMs: 50 })).toBe(800);
  });

  it('is none with WORKER_PREFETCH_MS=0, however slow the database', () => {
    expect(leadMs({ ...quiet, prefetchMs: 0, claimMs: 100, recordMs: 100 })).toBe(0);
  });
});

describe('nextAverageRunMs', () => {
  it('starts at the first run and then moves a fifth of the way towards each new one', () => {
    expect(nextAverageRunMs(undefined, 20)).toBe(20);
    expect(nextAverageRunMs(10, 20)).toBe(12);
    expect(nextAverageRunMs(10, 0)).toBe(8);
  });
});

describe('RunTimes', () => {
  it('knows nothing until a claim lands and each of its names has run here', () => {
    const times = new RunTimes();
    expect(times.estimateMs).toBeUndefined();
    times.ran('fast', 1);
    // No claim yet: nothing is known of what the next one brings.
    expect(times.estimateMs).toBeUndefined();
    times.claimed([{ name: 'fast' }, { name: 'fast' }]);
    expect(times.estimateMs).toBe(1);
  });

  it('claims by the slowest name of the latest claim, and by none while one of its names has not run here', () => {
    const times = new RunTimes();
    for (let i = 0; i < 20; i++) times.ran('fast', 0.5);
    times.claimed([{ name: 'fast' }]);
    expect(times.estimateMs).toBe(0.5);
    // A claim sized by the fast name lands a slow one never run here: nothing ahead from now on.
    times.claimed([{ name: 'fast' }, { name: 'slow' }]);
    expect(times.estimateMs).toBeUndefined();
    times.ran('slow', 300);
    expect(times.estimateMs).toBe(300);
    // The fast name's own average is its own: 20 fast runs did not make 'slow' look fast.
    expect(times.of('fast')).toBe(0.5);
    times.claimed([{ name: 'fast' }]);
    expect(times.estimateMs).toBe(0.5);
  });

  it('a run of a name outside the latest claim leaves the estimate alone; forget() drops every average', () => {
    const times = new RunTimes();
    times.ran('a', 2);
    times.claimed([{ name: 'a' }]);
    times.ran('b', 50);
    expect(times.estimateMs).toBe(2);
    times.forget();
    expect(times.estimateMs).toBeUndefined();
    expect(times.of('a')).toBeUndefined();
  });
});

describe('waitingToKeep', () => {
  const runMs = (known: Record<string, number>) => (name: string): number | undefined => known[name];
  const line = (...names: string[]): { name: string }[] => names.map((name) => ({ name }));
  const slots = { concurrency: 2, prefetchMs: 10 }; // 20 slot-ms

  it('keeps what a claim landed of the names it was sized by, however their averages moved since', () => {
    const landed = line(...Array.from({ length: 40 }, () => 'a'));
    // Sized for 'a' at 0.5 ms (40 ahead); 'a' averages 2 ms by the time the claim lands: all kept.
    expect(waitingToKeep(landed, 40, new Set(['a']), runMs({ a: 2 }), slots)).toBe(40);
  });

  it('keeps what it has no time for (a name not run here): the wait check judges those', () => {
    expect(waitingToKeep(line('a', 'a', 'new', 'a'), 4, new Set(['a']), runMs({ a: 0.1 }), slots)).toBe(4);
    expect(waitingToKeep(line('new', 'new', 'b', 'b', 'b'), 5, new Set(['a']), runMs({ a: 0.1, b: 8 }), slots)).toBe(4);
  });

  it('cuts where a landed task of another, slower name would start after prefetchMs', () => {
    // 'b' (8 ms) was not what the claim was sized by: two fit in 20 slot-ms, the third does not.
    expect(waitingToKeep(line('b', 'b', 'b', 'b'), 4, new Set(['a']), runMs({ a: 0.1, b: 8 }), slots)).toBe(2);
    // Slower than the whole lead: none waits.
    expect(waitingToKeep(line('slow', 'slow'), 2, new Set(['a']), runMs({ a: 0.1, slow: 300 }), slots)).toBe(0);
  });

  it('never cuts what waited before the claim landed, and counts its slot time', () => {
    // Two of 'b' waited already (16 slot-ms); one landed 'b' of 8 ms would pass 20.
    expect(waitingToKeep(line('b', 'b', 'b'), 1, new Set(['a']), runMs({ b: 8 }), slots)).toBe(2);
    expect(waitingToKeep(line('b', 'b', 'a'), 1, new Set(['a']), runMs({ a: 1, b: 30 }), slots)).toBe(3);
  });
});
