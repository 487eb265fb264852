import { describe, expect, it } from 'vitest';
import { claimAhead, inFlightAhead, MAX_CLAIM_AHEAD, nextAverageRunMs, RunTimes, roundTripMs, tasksToClaim, waitingToKeep, type ClaimState } from '../../src/worker/claim-policy.js';

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

describe('roundTripMs', () => {
  it('adds the claim and the write round trips, none before either was timed', () => {
    expect(roundTripMs({ claimMs: undefined, recordMs: undefined, releaseWaitingAfterMs: 1000 })).toBe(0);
    expect(roundTripMs({ claimMs: 120, recordMs: 250, releaseWaitingAfterMs: 1000 })).toBe(370);
  });

  it('stops at half of releaseWaitingAfterMs, past which a waiting task goes back', () => {
    expect(roundTripMs({ claimMs: 900, recordMs: 2000, releaseWaitingAfterMs: 1000 })).toBe(500);
  });
});

describe('inFlightAhead', () => {
  const slow = { concurrency: 50, prefetchMs: 10, averageRunMs: 20, roundTripMs: 230, meanRunMs: 20 };

  it('holds what the round trips keep in flight at the rate the slots finish tasks', () => {
    expect(inFlightAhead(slow)).toBe(575);
    // 50 slots of 20 ms handlers at ~100 ms commits: 25 ahead by WORKER_PREFETCH_MS were used up by the
    // 75 being written; with what the round trips hold, the line keeps its 25 and the claim goes on.
    const state = { concurrency: 50, running: 50, waiting: 0, recording: 75, averageRunMs: 20, prefetchMs: 10 };
    expect(tasksToClaim(state)).toBe(0);
    expect(tasksToClaim({ ...state, roundTripMs: 230, meanRunMs: 20 })).toBe(25 + 575 - 75);
  });

  it("goes by the mean of every run, not the line's estimate: a claim of fast names alone does not size the next for hundreds", () => {
    // 5 ms tasks with a few of 300 ms and more (a mean of 40 ms): the line's estimate, 5 ms after a claim of
    // fast tasks only, would hold 20 × 230 / 5 = 920 in flight.
    const state = { concurrency: 20, running: 20, waiting: 0, recording: 0, averageRunMs: 5, prefetchMs: 10, roundTripMs: 230, meanRunMs: 40 };
    expect(inFlightAhead(state)).toBe(115);
    expect(tasksToClaim(state)).toBe(40 + 115);
  });

  it("is none with WORKER_PREFETCH_MS=0, while the line's run time is unknown, before a round trip or a run was timed, and behind slots held by long attempts", () => {
    expect(inFlightAhead({ ...slow, prefetchMs: 0 })).toBe(0);
    expect(inFlightAhead({ ...slow, averageRunMs: undefined })).toBe(0);
    expect(inFlightAhead({ ...slow, roundTripMs: 0 })).toBe(0);
    expect(inFlightAhead({ ...slow, meanRunMs: undefined })).toBe(0);
    expect(inFlightAhead({ ...slow, cyclingSlots: 0 })).toBe(0);
  });

  it(`counts with the line against ${MAX_CLAIM_AHEAD} at most`, () => {
    const drain = { concurrency: 50, running: 50, waiting: 0, recording: 0, averageRunMs: 0.05, prefetchMs: 10, roundTripMs: 20, meanRunMs: 0.05 };
    expect(tasksToClaim(drain)).toBe(MAX_CLAIM_AHEAD);
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
    expect(times.meanMs).toBeUndefined();
  });

  it('keeps a mean of every run whatever its name, a slow run moving it a twentieth of the way', () => {
    const times = new RunTimes();
    expect(times.meanMs).toBeUndefined();
    times.ran('fast', 5);
    times.ran('fast', 5);
    expect(times.meanMs).toBe(5);
    times.ran('slow', 305);
    expect(times.meanMs).toBe(20);
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
