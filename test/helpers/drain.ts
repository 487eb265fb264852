/** What `drain` gives: the items so far, the loop's end, and what it threw (if it did). */
export interface Drained<T> {
  seen: T[];
  /** Settles as the loop does: rejected with what it threw (marked handled: a test may look at `failure()` alone). */
  done: Promise<void>;
  failure: () => unknown;
}

/** Runs `iterable` in the background into an array the test can look at meanwhile. */
export function drain<T>(iterable: AsyncIterable<T>): Drained<T> {
  const seen: T[] = [];
  let failure: unknown;
  const done = (async () => {
    for await (const item of iterable) seen.push(item);
  })().catch((error: unknown) => {
    failure = error;
    throw error;
  });
  done.catch(() => undefined);
  return { seen, done, failure: () => failure };
}
