/**
 * A step of a subscription stream that is already there (a value queued while the consumer was
 * busy), handed on without a promise: a thenable whose `then` runs its callback at once.
 *
 * Between a subscription's queue and its socket sit a chain of iterator wrappers (the shared
 * results' map, envelop's result hooks — error masking — and its error wrapper, the subscription
 * guard's release), each chaining `.then` on what the one below returns. With a real promise every
 * layer costs a promise and a microtask per message per subscriber: at 200,000 messages/s that was
 * about a third of the server's CPU, half of it in GC. Through a ReadyStep the same chain runs
 * synchronously: every hook still sees every result (nothing is skipped), and the connection's pump
 * (ws-connection.ts) takes the value without awaiting. Whoever awaits it instead gets it one job
 * later, as with a promise: a ReadyStep is a valid thenable, so a layer that does not know it (an
 * `await`, `Promise.resolve`) just turns it back into a promise.
 */
export class ReadyStep<T> implements PromiseLike<T> {
  constructor(readonly value: T) {}

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    _onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): PromiseLike<R1 | R2> {
    if (!onFulfilled) return this as unknown as ReadyStep<R1>;
    let next: R1 | PromiseLike<R1>;
    try {
      next = onFulfilled(this.value);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return isThenable(next) ? next : new ReadyStep(next);
  }

  catch(): this {
    return this;
  }

  finally(onFinally?: (() => void) | null): PromiseLike<T> {
    if (!onFinally) return this;
    try {
      onFinally();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this;
  }
}

/** `result` as an iterator step that consumers chaining `.then` take synchronously (see ReadyStep). */
export function readyStep<T>(result: IteratorResult<T>): Promise<IteratorResult<T>> {
  // Typed as the Promise an AsyncIterator's next() returns: every use of one is a use of a thenable.
  return new ReadyStep(result) as unknown as Promise<IteratorResult<T>>;
}

function isThenable<R>(value: R | PromiseLike<R>): value is PromiseLike<R> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** A PendingStep's handlers, when more than one `then` waits on it (rare: the wrappers chain one each). */
type Listener = [onFulfilled: ((value: never) => unknown) | null | undefined, onRejected: ((reason: unknown) => unknown) | null | undefined, child: PendingStep<unknown>];

/**
 * A step still to come, settled synchronously: when the producer hands it a value, the callbacks
 * chained on it (one per iterator wrapper, as with a ReadyStep) run at once, in the producer's
 * call, rather than one promise job per layer later. A task subscription waits on one of these
 * (task-stream.ts): per waiting subscriber a native promise chain held a Promise, a reaction and
 * a closure per layer plus the resolver's closure and context (~600 B, the most of a subscriber's
 * memory after envelop's own in the heap snapshots of bench (g)); a PendingStep per layer is
 * one small object. Like a promise, a callback that throws rejects the step it returned, and
 * a callback that returns a thenable is adopted. Unlike a promise, a rejection nobody handles is
 * dropped silently: the streams never reject, and the graphql-ws pump handles every rejection.
 */
export class PendingStep<T> implements PromiseLike<T> {
  /** 0 pending, 1 fulfilled, 2 rejected, 3 pending on a thenable it adopted. */
  private state = 0;
  private result: unknown;
  private onFulfilled: ((value: never) => unknown) | null | undefined;
  private onRejected: ((reason: unknown) => unknown) | null | undefined;
  private child: PendingStep<unknown> | undefined;
  private more: Listener[] | undefined;

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): PromiseLike<R1 | R2> {
    const child = new PendingStep<R1 | R2>();
    if (this.state === 1 || this.state === 2) settle(child as PendingStep<unknown>, this.state, this.result, onFulfilled as never, onRejected);
    else if (!this.child) {
      this.onFulfilled = onFulfilled as never;
      this.onRejected = onRejected;
      this.child = child as PendingStep<unknown>;
    } else (this.more ??= []).push([onFulfilled as never, onRejected, child as PendingStep<unknown>]);
    return child;
  }

  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): PromiseLike<T | R> {
    return this.then(undefined, onRejected);
  }

  finally(onFinally?: (() => void) | null): PromiseLike<T> {
    return this.then(
      (value) => {
        onFinally?.();
        return value;
      },
      (reason: unknown) => {
        onFinally?.();
        throw reason;
      },
    );
  }

  /** Settles with `value` (a thenable is adopted); the waiting callbacks run now. Later calls do nothing. */
  resolve(value: unknown): void {
    if (this.state !== 0) return;
    if (isThenable(value)) {
      this.state = 3; // adopting: no other resolve or reject counts
      value.then(
        (v) => this.settleNow(1, v),
        (e: unknown) => this.settleNow(2, e),
      );
      return;
    }
    this.settleNow(1, value);
  }

  reject(reason: unknown): void {
    if (this.state === 0) this.settleNow(2, reason);
  }

  private settleNow(state: 1 | 2, result: unknown): void {
    if (state === 1 && isThenable(result)) {
      this.state = 0;
      this.resolve(result);
      return;
    }
    this.state = state;
    this.result = result;
    const child = this.child;
    if (!child) return;
    const { onFulfilled, onRejected, more } = this;
    this.child = this.onFulfilled = this.onRejected = this.more = undefined;
    settle(child, state, result, onFulfilled, onRejected);
    if (more) for (const [f, r, c] of more) settle(c, state, result, f, r);
  }
}

function settle(
  child: PendingStep<unknown>,
  state: number,
  result: unknown,
  onFulfilled: ((value: never) => unknown) | null | undefined,
  onRejected: ((reason: unknown) => unknown) | null | undefined,
): void {
  const handler = state === 1 ? onFulfilled : onRejected;
  if (typeof handler !== 'function') {
    if (state === 1) child.resolve(result);
    else child.reject(result);
    return;
  }
  let out: unknown;
  try {
    out = handler(result as never);
  } catch (error) {
    child.reject(error);
    return;
  }
  child.resolve(out);
}
