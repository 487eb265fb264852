/**
 * Exactly-once accounting for event subscribers: which (task, version) pairs one subscriber
 * received, how often, and in what order, against what the database's log holds. Compact
 * (a byte per task and version), because the event-log scenario follows 100,000 tasks in each
 * of ten feed subscribers.
 */

/** Versions the database holds per task, as an inclusive range; filled from `task_events`. */
export interface ExpectedVersions {
  /** Task index → [first, last] version a subscriber must receive (every one in between). */
  ranges: Map<number, [number, number]>;
}

/**
 * The log's versions per task, as rows to send to another process: task `ids[k]` holds versions
 * `lo[k]` … `hi[k]`, every one in between (checked when the rows were made).
 */
export interface ExpectedRows {
  ids: string[];
  lo: Int32Array;
  hi: Int32Array;
}

/** The ranges of `rows` for the tasks of `index` (a tally's), by dense index; other tasks are left out. */
export function rangesOf(rows: ExpectedRows, index: ReadonlyMap<string, number>): Map<number, [number, number]> {
  const ranges = new Map<number, [number, number]>();
  rows.ids.forEach((id, k) => {
    const t = index.get(id);
    if (t !== undefined) ranges.set(t, [rows.lo[k] as number, rows.hi[k] as number]);
  });
  return ranges;
}

export interface TallyCheck {
  /** Expected (task, version) pairs never received. */
  missing: number;
  /** Deliveries of a pair already received. */
  duplicates: number;
  /** Pairs received although the log does not hold them for this subscriber (outside its range). */
  unexpected: number;
  /** Deliveries of a version below one already received for that task. */
  outOfOrder: number;
  /** Pairs received once, as expected. */
  exact: number;
}

export class VersionTally {
  private readonly counts: Uint8Array;
  private readonly last: Uint8Array;
  private beyond = 0;
  private outOfOrder = 0;
  /** Every delivery of a tracked task. */
  received = 0;

  /**
   * @param index task id → dense index (0 … n−1) of the tasks this subscriber is checked on;
   *   events of other tasks are ignored.
   * @param maxVersion highest version tracked per task (default 15); a higher one counts as unexpected.
   */
  constructor(
    readonly index: ReadonlyMap<string, number>,
    private readonly maxVersion = 15,
  ) {
    this.counts = new Uint8Array(index.size * (maxVersion + 1));
    this.last = new Uint8Array(index.size);
  }

  /** Records one delivery; false when the task is not tracked. */
  record(taskId: string, version: number): boolean {
    const t = this.index.get(taskId);
    if (t === undefined) return false;
    this.received += 1;
    if (!Number.isInteger(version) || version < 1 || version > this.maxVersion) {
      this.beyond += 1;
      return true;
    }
    const slot = t * (this.maxVersion + 1) + version;
    const seen = this.counts[slot] as number;
    if (seen < 255) this.counts[slot] = seen + 1;
    if (seen === 0 && version < (this.last[t] as number)) this.outOfOrder += 1;
    if (version > (this.last[t] as number)) this.last[t] = version;
    return true;
  }

  /** Compares what was received with `expected`; every tracked task absent from it must have received nothing. */
  check(expected: ExpectedVersions): TallyCheck {
    const result: TallyCheck = { missing: 0, duplicates: 0, unexpected: this.beyond, outOfOrder: this.outOfOrder, exact: 0 };
    const width = this.maxVersion + 1;
    for (let t = 0; t < this.index.size; t++) {
      const [lo, hi] = expected.ranges.get(t) ?? [1, 0];
      if (hi > this.maxVersion) throw new Error(`a task reached version ${hi}, above the ${this.maxVersion} a tally tracks`);
      for (let v = 1; v <= this.maxVersion; v++) {
        const c = this.counts[t * width + v] as number;
        if (v < lo || v > hi) result.unexpected += c;
        else if (c === 0) result.missing += 1;
        else {
          result.exact += 1;
          result.duplicates += c - 1;
        }
      }
    }
    return result;
  }
}

/** Sums the checks of several subscribers. */
export function sumChecks(checks: readonly TallyCheck[]): TallyCheck {
  const total: TallyCheck = { missing: 0, duplicates: 0, unexpected: 0, outOfOrder: 0, exact: 0 };
  for (const c of checks) {
    total.missing += c.missing;
    total.duplicates += c.duplicates;
    total.unexpected += c.unexpected;
    total.outOfOrder += c.outOfOrder;
    total.exact += c.exact;
  }
  return total;
}

/** True when nothing was lost, repeated, reordered or made up. */
export function isExact(c: TallyCheck): boolean {
  return c.missing === 0 && c.duplicates === 0 && c.unexpected === 0 && c.outOfOrder === 0;
}

export function describeCheck(c: TallyCheck): string {
  return `${c.exact} exact, ${c.missing} missing, ${c.duplicates} duplicate, ${c.unexpected} unexpected, ${c.outOfOrder} out of order`;
}
