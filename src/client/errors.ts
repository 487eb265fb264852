import type { ErrorCode } from '../error-codes.js';
import type { ClientTaskFragment } from './generated/graphql.js';

/** A GraphQL error as the server sends it (graphql-js's GraphQLFormattedError, without the import). */
export interface GraphQLErrorPayload {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
}

/**
 * Codes a server answers with in `extensions.code` (see docs/graphql.md): the server's own list,
 * from the one dependency-free module the client shares with it. A newer server may send others.
 */
export type ServerErrorCode = ErrorCode;

/**
 * Codes the client itself raises; a server never sends them. Transport: `CONNECTION_FAILED`,
 * `BAD_RESPONSE`; waiting on a task: `TASK_FAILED`, `TASK_CANCELLED`, `WAIT_TIMEOUT`; `CLIENT_CLOSED`.
 */
export const CLIENT_ONLY_ERROR_CODES = ['CONNECTION_FAILED', 'BAD_RESPONSE', 'TASK_FAILED', 'TASK_CANCELLED', 'WAIT_TIMEOUT', 'CLIENT_CLOSED'] as const;

export type ClientOnlyErrorCode = (typeof CLIENT_ONLY_ERROR_CODES)[number];

export type ClientErrorCode = ServerErrorCode | ClientOnlyErrorCode;

/** Base class of every error the client throws: a stable `code`, and `field` when an input is at fault. */
export class TaskwireClientError extends Error {
  /** A `ClientErrorCode`; a newer server may send a code this client does not know yet. */
  readonly code: ClientErrorCode | (string & {});
  /** The offending input (`input.args[0]`, `id`, `first` …), when the server named one. */
  readonly field: string | undefined;

  constructor(code: ClientErrorCode | (string & {}), message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.field = options.field;
  }
}

/**
 * The server answered with GraphQL errors: `code` and `field` come from the first error's
 * `extensions`; `errors` holds them all as sent.
 */
export class RequestError extends TaskwireClientError {
  readonly errors: readonly GraphQLErrorPayload[];
  /** HTTP status of the answer (200 for most errors; 400 for parse and validation errors); undefined over WebSocket. */
  readonly status: number | undefined;
  /**
   * The first error's `extensions.details`: e.g. `requiredScope` of a FORBIDDEN, or an
   * `enqueueMany` refused for several invalid items: `invalidInputs` ({ field, code, message } each)
   * and `invalidCount`.
   */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(errors: readonly GraphQLErrorPayload[], status?: number) {
    const first = errors[0];
    const code = typeof first?.extensions?.code === 'string' ? first.extensions.code : 'INTERNAL_SERVER_ERROR';
    const field = typeof first?.extensions?.field === 'string' ? first.extensions.field : undefined;
    super(code, first?.message ?? 'The server answered with an error', field === undefined ? {} : { field });
    this.errors = errors;
    this.status = status;
    const details = first?.extensions?.details;
    this.details = typeof details === 'object' && details !== null && !Array.isArray(details) ? (details as Record<string, unknown>) : undefined;
  }
}

/**
 * No valid credential (`UNAUTHENTICATED`): none was sent, or it is malformed, expired or revoked.
 * Also thrown when graphql-ws kept closing the socket with 4403 (credential refused) after
 * `getToken()` was asked again a few times: the token it gives is not accepted.
 */
export class UnauthenticatedError extends RequestError {}

/** The credential is valid but lacks the scope the operation needs (`FORBIDDEN`; `field` may name the input). */
export class ForbiddenError extends RequestError {}

/**
 * A mutation that was carried out, whose answer selected a task's payload (`args`, `kwargs`,
 * `errors`, …) that the credential may not read: the payload needs `tasks:read` or to have
 * enqueued the task, the mutation (e.g. `tasks:cancel`) did not. Every error sits under the
 * mutation's field, which the server only reaches after the mutation's work. Sending it again
 * would act twice or answer CONFLICT; ask with `{ payload: false }` for the state alone.
 */
export class PayloadForbiddenError extends ForbiddenError {
  /** The mutation's field that was carried out (`cancelTask`, `retryTask`, `runTaskNow`, `cancelWorkflow`). */
  readonly mutation: string;

  constructor(mutation: string, method: string, cause: ForbiddenError) {
    const fields = [...new Set(cause.errors.map((e) => e.path?.filter((p) => typeof p === 'string').at(-1)))].join(', ');
    const [first, ...rest] = cause.errors;
    const message =
      `${mutation} was carried out, but its answer's ${fields} cannot be read without tasks:read: ` +
      `call ${method}(id, { payload: false }) for the state alone (${first?.message ?? 'FORBIDDEN'})`;
    super([{ ...first, message }, ...rest], cause.status);
    this.mutation = mutation;
  }
}

/**
 * Whether `error` is FORBIDDEN for what a mutation's answer selected, not for the mutation: every
 * error FORBIDDEN, with a `path` below `field` (`["cancelTask", "args"]`).
 */
export function isPayloadForbidden(error: unknown, field: string): error is ForbiddenError {
  return (
    error instanceof ForbiddenError &&
    error.errors.length > 0 &&
    error.errors.every((e) => e.extensions?.code === 'FORBIDDEN' && e.path !== undefined && e.path.length > 1 && e.path[0] === field)
  );
}

/** Too many requests of this principal (`RATE_LIMITED`): `retryAfterMs` says how long to wait before trying again. */
export class RateLimitedError extends RequestError {
  /** Ms until a retry can succeed: the server's `extensions.retryAfterMs` (else its Retry-After header; default 1,000). */
  readonly retryAfterMs: number;

  constructor(errors: readonly GraphQLErrorPayload[], status?: number, retryAfterMs?: number) {
    super(errors, status);
    const sent = errors[0]?.extensions?.retryAfterMs;
    this.retryAfterMs = typeof sent === 'number' && Number.isFinite(sent) && sent >= 0 ? sent : (retryAfterMs ?? 1000);
  }
}

/**
 * The RequestError for a list of GraphQL errors, by the first one's code: UnauthenticatedError,
 * ForbiddenError, RateLimitedError, else a plain RequestError. `retryAfterMs` is the HTTP
 * Retry-After, used when the error carries none of its own.
 */
export function requestError(errors: readonly GraphQLErrorPayload[], status?: number, retryAfterMs?: number): RequestError {
  switch (errors[0]?.extensions?.code) {
    case 'UNAUTHENTICATED':
      return new UnauthenticatedError(errors, status);
    case 'FORBIDDEN':
      return new ForbiddenError(errors, status);
    case 'RATE_LIMITED':
      return new RateLimitedError(errors, status, retryAfterMs);
    default:
      return new RequestError(errors, status);
  }
}

/**
 * Server codes that say nothing was done and the same request may succeed in a while: a server
 * that is stopping (`SHUTTING_DOWN`), one whose database is away, restarting or full
 * (`DATABASE_UNAVAILABLE`). The streams (`watch`, `wait`, `events`, `output`, the workflow and bulk
 * action watches) and their reads of a row retry on them with the `retry` backoff; a single call
 * (`get`, `enqueue` …) throws them, for the caller to decide (docs/client.md, "Reconnection").
 */
export const TRY_AGAIN_CODES: readonly ServerErrorCode[] = ['SHUTTING_DOWN', 'DATABASE_UNAVAILABLE'];

/** Whether every one of `errors` (at least one) is a TRY_AGAIN_CODES answer. */
export function saysTryAgain(errors: readonly GraphQLErrorPayload[] | undefined): boolean {
  return errors !== undefined && errors.length > 0 && errors.every((e) => (TRY_AGAIN_CODES as readonly unknown[]).includes(e.extensions?.code));
}

/** Whether `error` is the server's answer to try again later (saysTryAgain of its errors). */
export function isTryAgain(error: unknown): boolean {
  return error instanceof RequestError && saysTryAgain(error.errors);
}

/**
 * The server could not be reached or did not answer like a taskwire GraphQL endpoint:
 * `CONNECTION_FAILED` (refused, DNS, timeout, WebSocket retries used up) or `BAD_RESPONSE`
 * (an answer that is not a GraphQL response, e.g. a 404 page from a wrong URL).
 */
export class ConnectionError extends TaskwireClientError {
  constructor(code: 'CONNECTION_FAILED' | 'BAD_RESPONSE', message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** `wait()`: the task ended FAILED. `errors` holds every attempt's error, oldest first. */
export class TaskFailedError extends TaskwireClientError {
  readonly task: ClientTaskFragment;
  readonly errors: ClientTaskFragment['errors'];

  constructor(task: ClientTaskFragment) {
    const last = task.errors.at(-1);
    const why = last ? `: ${last.exceptionType}: ${last.message}` : '';
    super('TASK_FAILED', `Task ${task.id} (${task.name}) failed after ${task.attempts} attempt(s)${why}`);
    this.task = task;
    this.errors = task.errors;
  }
}

/** `wait()`: the task ended CANCELLED. */
export class TaskCancelledError extends TaskwireClientError {
  readonly task: ClientTaskFragment;

  constructor(task: ClientTaskFragment) {
    super('TASK_CANCELLED', `Task ${task.id} (${task.name}) was cancelled`);
    this.task = task;
  }
}

/** `wait()`: no terminal state within `timeoutMs`. `task` is the last state seen (undefined if none). The task runs on. */
export class WaitTimeoutError extends TaskwireClientError {
  readonly task: ClientTaskFragment | undefined;
  readonly timeoutMs: number;

  constructor(id: string, timeoutMs: number, task: ClientTaskFragment | undefined) {
    super('WAIT_TIMEOUT', `Task ${id} did not finish within ${timeoutMs} ms${task ? ` (last seen ${task.status})` : ''}`);
    this.task = task;
    this.timeoutMs = timeoutMs;
  }
}
