// @ts-check
/**
 * The database's clock, as the page estimates it. Every stamp the page shows a distance from
 * (a running task's start, its enqueue time) was read from the database's clock; the browser's
 * may be minutes off (a running task of 14 s read "0 ms" in a browser 5 min behind, "5 m 23 s"
 * in one 5 min ahead). So an elapsed time is `serverNow() − stamp`, never `Date.now() − stamp`.
 *
 * A sample is an answer that selected `Query.now` (api.js takes one from every such request),
 * with the browser's clock read when it was sent and when it came back: the offset is
 * `now − (sent + received) / 2`, wrong by at most half the round trip (NTP's estimate). The page
 * keeps the samples of the last KEEP_MS and uses the one with the shortest round trip; a sample
 * that cannot agree with that one within both their round trips means the browser's clock was
 * set meanwhile, and the older samples go.
 */

/** How long a sample counts, in ms: the clocks drift, and the browser's may be set. */
export const KEEP_MS = 120_000;

/** @type {{ offset: number, rtt: number, at: number }[]} */
let samples = [];
/** The database's clock minus the browser's, in ms (0 until the first sample). */
let offset = 0;

/** The shortest round trip among the samples still kept. */
function best() {
  return samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
}

/**
 * Takes a sample: `serverIso` (Query.now) answered a request sent at browser time `sentMs` and
 * received at `receivedMs` (both Date.now()); `rtt` the round trip as measured by performance.now().
 */
export function observeClock(serverIso, sentMs, receivedMs, rtt = receivedMs - sentMs) {
  const server = Date.parse(serverIso);
  if (!Number.isFinite(server) || !(rtt >= 0)) return;
  const at = performance.now();
  const sample = { offset: server - (sentMs + receivedMs) / 2, rtt, at };
  samples = samples.filter((s) => at - s.at < KEEP_MS);
  if (samples.length > 0) {
    const kept = best();
    // Each offset is right within half its round trip: two that do not overlap cannot both be.
    if (Math.abs(sample.offset - kept.offset) > (sample.rtt + kept.rtt) / 2 + 1) samples = [];
  }
  samples.push(sample);
  offset = best().offset;
}

/** The database's clock now, in ms since the epoch, as estimated (the browser's own before any sample). */
export function serverNow() {
  return Date.now() + offset;
}

/** How far serverNow() may be off, in ms: half the round trip of the sample it rests on (Infinity before any). */
export function serverClockError() {
  return samples.length === 0 ? Infinity : best().rtt / 2;
}
