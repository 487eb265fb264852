/**
 * A write whose answer did not come in time. The connection may be half-open (the statement sent,
 * no answer and no error: a network that failed one way, a proxy gone quiet), which the operating
 * system gives up only after minutes; the write is tried again on another connection of the pool,
 * and what the first try may have done meanwhile is the retry's to find (docs/decisions.md "A write
 * whose answer was lost").
 */
export class WriteTimeoutError extends Error {
  override name = 'WriteTimeoutError';
  readonly code = 'WRITE_TIMEOUT';

  constructor(readonly timeoutMs: number) {
    super(`no answer from the database within ${timeoutMs} ms; trying again on another connection`);
  }
}

/**
 * `work`, or a WriteTimeoutError once `timeoutMs` passed without its answer (undefined or 0: no
 * deadline). What `work` does later is ignored, a rejection included.
 */
export function withDeadline<T>(work: Promise<T>, timeoutMs: number | undefined): Promise<T> {
  if (!timeoutMs) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WriteTimeoutError(timeoutMs)), timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
