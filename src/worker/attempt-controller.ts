import type { AbortReason } from './execute-task.js';

/**
 * Aborts one attempt, with the AbortSignal made only when someone asks for it.
 *
 * Why not an AbortController: executeTask has to hear of an abort while the handler runs (to arm
 * the abandonment timer), and listening on a controller's signal makes the signal, an EventTarget,
 * for every attempt. In a drain of no-op tasks that was ~5 µs of the worker's CPU per task plus
 * the garbage (bench/README.md (a)); a handler that never reads `ctx.signal` never needs one.
 * Here the first abort calls one callback, and `signal` is made on first read (already aborted,
 * with the same reason, when read after the abort).
 */
export class AttemptController {
  #controller: AbortController | undefined;
  #reason: AbortReason | undefined;
  #onAbort: (() => void) | undefined;

  /** The attempt's `ctx.signal`; made on first read. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Why the attempt was aborted; undefined while it was not. */
  get reason(): AbortReason | undefined {
    return this.#reason;
  }

  /** Aborts once: the first reason is the one that counts, later calls do nothing. */
  abort(reason: AbortReason): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const onAbort = this.#onAbort;
    this.#onAbort = undefined;
    onAbort?.();
  }

  /** Calls `callback` at the abort (at once when aborted already). One callback: a later call replaces it. */
  onAbort(callback: () => void): void {
    if (this.#reason !== undefined) callback();
    else this.#onAbort = callback;
  }
}
