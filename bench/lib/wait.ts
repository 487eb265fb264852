import { setTimeout as delay } from 'node:timers/promises';

export { delay };

/** Polls `check` every `intervalMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  o: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<void> {
  const deadline = performance.now() + o.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`Timed out after ${o.timeoutMs} ms waiting for ${o.what}`);
    await delay(o.intervalMs ?? 5);
  }
}

/**
 * Counts handler executions by job id. A second execution of an id is a failure of
 * the run (the benchmark's no-op handlers never fail, so nothing may run twice).
 */
export class ExecutionCounter {
  private readonly counts = new Map<string, number>();
  private readonly duplicates: string[] = [];
  private target = Number.POSITIVE_INFINITY;
  private onTarget: (() => void) | undefined;

  record(id: string): void {
    const n = (this.counts.get(id) ?? 0) + 1;
    this.counts.set(id, n);
    if (n > 1) this.duplicates.push(id);
    if (this.counts.size >= this.target && this.onTarget) {
      const resolve = this.onTarget;
      this.onTarget = undefined;
      resolve();
    }
  }

  get distinct(): number {
    return this.counts.size;
  }

  /** Resolves once `n` distinct ids ran; rejects after `timeoutMs`. */
  async waitForDistinct(n: number, timeoutMs: number): Promise<void> {
    if (this.counts.size >= n) return;
    this.target = n;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.onTarget = resolve;
        timer = setTimeout(
          () => reject(new Error(`Only ${this.counts.size} of ${n} jobs ran within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
    } finally {
      clearTimeout(timer);
      this.target = Number.POSITIVE_INFINITY;
    }
  }

  /** Throws unless exactly `expected` distinct ids ran, each once. */
  assertExactlyOnce(expected: number, what: string): void {
    if (this.duplicates.length > 0) {
      throw new Error(`${what}: ${this.duplicates.length} executions of jobs that had already run (e.g. ${this.duplicates[0]})`);
    }
    if (this.counts.size !== expected) {
      throw new Error(`${what}: ${this.counts.size} distinct jobs ran, expected ${expected}`);
    }
  }
}

export function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}
