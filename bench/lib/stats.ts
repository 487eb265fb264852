/** Summary of one metric over the repetitions of a scenario. */
export interface Summary {
  median: number;
  min: number;
  max: number;
}

/** Median, min and max of a non-empty list. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error('summarize: no values');
  const sorted = [...values].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

/**
 * The q-quantile of an ascending list, by linear interpolation between the closest ranks
 * (the R-7 / NumPy default), so p50 of an even-sized list is the mean of the middle two.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('quantile: no values');
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/** p50/p95/p99 of a list of samples (any order). */
export function percentiles(samples: readonly number[]): { p50: number; p95: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99) };
}

/**
 * A growable list of float samples in one Float64Array: the event-log scenarios take millions
 * of latency samples, which as a number[] cost 8× the memory in boxed-array overhead and a slow sort.
 */
export class Samples {
  private data = new Float64Array(1024);
  private n = 0;

  add(value: number): void {
    if (this.n === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = value;
  }

  /** Appends every sample of `other`. */
  addAll(other: Samples): void {
    for (let i = 0; i < other.n; i++) this.add(other.data[i] as number);
  }

  /** Appends every value of a list of samples (another process's `values()`). */
  addValues(values: Float64Array): void {
    for (const v of values) this.add(v);
  }

  /** A copy of the samples so far, e.g. to send to another process. */
  values(): Float64Array {
    return this.data.slice(0, this.n);
  }

  get count(): number {
    return this.n;
  }

  /** p50/p99/max of the samples so far (R-7 quantiles, as `quantile`); throws when there are none. */
  summary(): { p50: number; p99: number; max: number } {
    if (this.n === 0) throw new Error('Samples.summary: no samples');
    const sorted = this.data.slice(0, this.n).sort();
    const at = (q: number): number => {
      const pos = (this.n - 1) * q;
      const lo = sorted[Math.floor(pos)] as number;
      const hi = sorted[Math.ceil(pos)] as number;
      return lo + (hi - lo) * (pos - Math.floor(pos));
    };
    return { p50: at(0.5), p99: at(0.99), max: sorted[this.n - 1] as number };
  }
}
