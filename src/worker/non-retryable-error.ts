/**
 * What a handler throws when trying again cannot help (bad input found only at run time, a record
 * that no longer exists): this attempt fails and the task ends FAILED whatever attempts are left,
 * as BullMQ's UnrecoverableError and Celery's `Reject(requeue=False)`. The error is recorded as any
 * other (`exceptionType` is its `name`: a subclass keeps its own). Any error with `retryable` set to
 * `false` counts the same, so an application's own error classes need not import this one.
 */
export class NonRetryableError extends Error {
  readonly retryable = false;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Whether `error`, thrown by a handler, asks for no retry. */
export function isNonRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === false;
}
