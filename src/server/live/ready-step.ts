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
