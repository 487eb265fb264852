import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * How late the harness's own event loop ran while it measured: a client whose loop is late
 * timestamps every message late, so a latency figure is only the server's when this is small.
 */
export interface LoopDelay {
  /** Stops sampling; p50/p99/max of the delay in ms. */
  stop(): { p50: number; p99: number; max: number };
}

/** Samples the event loop's delay every `resolutionMs` (default 10 ms) until `stop()`. */
export function watchLoopDelay(resolutionMs = 10): LoopDelay {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  return {
    stop: () => {
      h.disable();
      // The histogram holds ns and counts the resolution itself in every sample.
      const ms = (ns: number): number => Math.max(0, ns / 1e6 - resolutionMs);
      return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
    },
  };
}

/** A delay summary as text for a note, e.g. "harness event-loop delay p50 1 ms, p99 40 ms, max 80 ms". */
export function describeLoopDelay(d: { p50: number; p99: number; max: number }): string {
  return `harness event-loop delay p50 ${d.p50.toFixed(1)} ms, p99 ${d.p99.toFixed(1)} ms, max ${d.max.toFixed(1)} ms`;
}
