/**
 * Cancels a postgres.js statement when `signal` aborts, and returns the statement (to await as
 * before). A statement postgres.js has not sent yet (queued for a connection, or waiting for one
 * being made) is then never sent, and rejects with 57014; one under way gets PostgreSQL's cancel
 * request. Used where a caller gives up on a statement that must not run later on its own: a
 * worker's claim when its stop stops waiting for it (the claim would take tasks nobody then runs).
 */
export function cancelOnAbort<Q extends PromiseLike<unknown> & { cancel(): unknown }>(statement: Q, signal: AbortSignal | undefined): Q {
  if (!signal) return statement;
  // The cancel request of a statement under way needs a connection too: with the database gone it fails.
  const cancel = (): void => void Promise.resolve(statement.cancel()).catch(() => undefined);
  if (signal.aborted) {
    cancel();
    return statement;
  }
  signal.addEventListener('abort', cancel, { once: true });
  const forget = (): void => signal.removeEventListener('abort', cancel);
  // postgres.js sends a statement once something awaits it; its caller awaits it right after this.
  statement.then(forget, forget);
  return statement;
}
