import { describe, expect, it } from 'vitest';

/** clock.js, the page's estimate of the database's clock: a pure module (no DOM). */
const clock = (await import('../../src/dashboard/clock.js' as string)) as {
  observeClock(serverIso: string, sentMs: number, receivedMs: number, rtt?: number): void;
  serverNow(): number;
};

/** A sample of a server `offsetMs` ahead of this clock, answered with round trip `rtt` whose answer was read `late` ms after its middle. */
function sample(offsetMs: number, rtt: number, late = 0): void {
  const received = Date.now();
  const sent = received - rtt;
  clock.observeClock(new Date((sent + received) / 2 + offsetMs + late).toISOString(), sent, received);
}

const estimate = (): number => clock.serverNow() - Date.now();

describe('observeClock and serverNow', () => {
  it("uses the sample with the shortest round trip, and a clock set meanwhile replaces what it knew", () => {
    sample(300_000, 400, 150);
    expect(Math.abs(estimate() - 300_150)).toBeLessThan(5);
    sample(300_000, 20);
    expect(Math.abs(estimate() - 300_000)).toBeLessThan(5);
    // A slower one later, within both round trips of the best: the best stays.
    sample(300_000, 300, 100);
    expect(Math.abs(estimate() - 300_000)).toBeLessThan(5);
    // The browser's clock was set 5 minutes on: no earlier sample can be right any more.
    sample(0, 200, 50);
    expect(Math.abs(estimate() - 50)).toBeLessThan(5);
  });
});
