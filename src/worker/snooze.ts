/** Longest snooze, in ms (about 24.8 days: the largest delay a Node timer and an int4 both hold). */
export const MAX_SNOOZE_MS = 2_147_483_647;

/**
 * Thrown by `ctx.retryAfter(ms)` / `ctx.snooze(ms)` so that the handler stops there; the attempt
 * ends as `snoozed` even when the handler catches it (the request is remembered, see
 * createSnoozeRequest). Not an error of the task: nothing is recorded in its errors.
 */
export class SnoozeSignal extends Error {
  override name = 'SnoozeSignal';
  constructor(readonly delayMs: number) {
    super(`The task asked to run again in ${delayMs} ms`);
  }
}

/** One attempt's snooze request: what the handler asked for, if it did. */
export interface SnoozeRequest {
  /** The ms asked for, or undefined when the handler never asked. */
  readonly delayMs: number | undefined;
  /** The `ctx.retryAfter` / `ctx.snooze` of the attempt. @throws TypeError for a delay that is not a number of 0..MAX_SNOOZE_MS; else always SnoozeSignal */
  ask(ms: number): never;
}

export function createSnoozeRequest(): SnoozeRequest {
  let delayMs: number | undefined;
  return {
    get delayMs() {
      return delayMs;
    },
    ask(ms: number): never {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_SNOOZE_MS) {
        throw new TypeError(`ctx.retryAfter/snooze needs a delay in ms from 0 to ${MAX_SNOOZE_MS}, got ${String(ms)}`);
      }
      // The first request wins: a handler that catches the signal and asks again changes nothing.
      delayMs ??= Math.round(ms);
      throw new SnoozeSignal(delayMs);
    },
  };
}
