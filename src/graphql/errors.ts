import type { GraphQLError } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import { AppError, databaseUnavailableError, isAppError, isDatabaseUnavailable, isErrorCode, RateLimitedError, type ErrorCode } from '../errors.js';

/** Codes of errors the GraphQL layer itself raises (the core's are AppError codes); all in ERROR_CODES. */
export const GRAPHQL_CODES = {
  parseFailed: 'GRAPHQL_PARSE_FAILED',
  validationFailed: 'GRAPHQL_VALIDATION_FAILED',
  badUserInput: 'BAD_USER_INPUT',
  badRequest: 'BAD_REQUEST',
  payloadTooLarge: 'PAYLOAD_TOO_LARGE',
  internal: 'INTERNAL_SERVER_ERROR',
} as const satisfies Record<string, ErrorCode>;

/**
 * Runs `fn`, prefixing the `field` of an AppError it throws (e.g. `args[0]` → `input.args[0]`),
 * so the error names the field as the client sent it.
 */
export async function withFieldPrefix<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (isAppError(error) && error.field !== undefined) {
      throw new AppError(error.code, error.message, { field: `${prefix}${error.field}`, details: error.details, cause: error });
    }
    throw error;
  }
}

/**
 * Recognizes a GraphQLError by name, as yoga does: graphql ships an ESM and a CJS build, and
 * where both get loaded (vitest resolves the ESM one, Node the CJS one) `instanceof` fails.
 */
export function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

/**
 * The AppError behind `error`, if it is one a client may see: an AppError with a local code
 * (CONFIG_INVALID) reaching a resolver is a bug, masked like any other.
 */
function findAppError(error: unknown): (AppError & { code: ErrorCode }) | undefined {
  for (let e: unknown = error; e; e = isGraphQLError(e) ? e.originalError : undefined) {
    if (isAppError(e)) return isErrorCode(e.code) ? (e as AppError & { code: ErrorCode }) : undefined;
  }
  return undefined;
}

/** A GraphQLError made by graphql-js or yoga about the request (all the way down), not a crash. */
function isRequestError(error: unknown): error is GraphQLError {
  let e: unknown = error;
  while (isGraphQLError(e)) {
    if (!e.originalError) return true;
    e = e.originalError;
  }
  return false;
}

/**
 * What a client may read in `extensions` (docs/graphql.md): `code`, `field`, `details`,
 * `retryAfterMs`, and a limit's `limit` and `max`.
 */
const CLIENT_EXTENSIONS: ReadonlySet<string> = new Set(['code', 'field', 'details', 'retryAfterMs', 'limit', 'max']);
/** Steer yoga (the HTTP status and headers; a 500 for an unexpected error) but are not the client's to read. */
const STEERING_EXTENSIONS: ReadonlySet<string> = new Set(['http', 'unexpected']);

/**
 * `error` with only the extensions a client may read, changed in place: yoga and graphql-tools
 * add their own (`originalError` with a SyntaxError's name and message for a body that is not
 * JSON; `http` on parse and validation errors), and graphql-ws sends an error as it is. `http`
 * and `unexpected` stay, non-enumerable: yoga reads them to choose the status, no serializer
 * writes them.
 */
export function clientError(error: GraphQLError): GraphQLError {
  const extensions = error.extensions as Record<string, unknown>;
  for (const key of Object.keys(extensions)) {
    if (CLIENT_EXTENSIONS.has(key)) continue;
    if (STEERING_EXTENSIONS.has(key)) Object.defineProperty(extensions, key, { value: extensions[key], enumerable: false, configurable: true, writable: true });
    else delete extensions[key];
  }
  return error;
}

/**
 * graphql-tools' and yoga's code for a document whose operation to run cannot be told (several and
 * no `operationName`, or none of that name): not one of ours, and the same thing as a validation
 * failure to a client (src/server/request-params.ts words it first where it can).
 */
const OPERATION_RESOLUTION_FAILURE = 'OPERATION_RESOLUTION_FAILURE';

/**
 * A request that is not a well-formed GraphQL-over-HTTP request (BAD_REQUEST: no query, a body
 * that is not JSON) is 400 whatever the Accept: the spec asks for 200 under application/json only
 * for well-formed requests. Yoga marks some of these `spec` (a status for
 * application/graphql-response+json only), so `{}` was answered 200 under application/json and `*` / `*`.
 */
function notWellFormed(error: GraphQLError): void {
  const http = error.extensions.http;
  if (typeof http === 'object' && http !== null && 'spec' in http) error.extensions.http = { ...http, spec: false };
}

/**
 * The code maskError gives `error` (undefined: masked as INTERNAL_SERVER_ERROR), for what counts
 * an operation's outcome before the masking has run (server/operation-metrics.ts).
 */
export function errorCodeOf(error: unknown): ErrorCode | undefined {
  const code = appErrorOf(error)?.code;
  return isErrorCode(code) ? code : undefined;
}

/** The AppError behind `error`, or the one an outage is answered as (the database away). */
function appErrorOf(error: unknown): AppError | undefined {
  return findAppError(error) ?? (isDatabaseUnavailable(originalOf(error)) ? databaseUnavailableError(originalOf(error)) : undefined);
}

/**
 * The one AppError → GraphQLError mapping, for yoga's `maskedErrors.maskError`.
 * - AppError with a code of ERROR_CODES: its message, `extensions.code` and `extensions.field` (and `details`);
 *   RATE_LIMITED also `extensions.retryAfterMs` (ms until a retry can succeed).
 * - Errors about the request (parse, validation, variables): kept, with a code
 *   (variable coercion has none from graphql-js: BAD_USER_INPUT).
 * - Every error returned carries only the extensions a client may read (clientError).
 * - Anything else is a bug or an outage: masked for the client. Yoga logs the original
 *   (through the logger given to it) whenever the returned error is a new one.
 * Expected errors are annotated in place rather than copied, so yoga does not log them.
 */
export function maskError(error: unknown, message: string): Error {
  // The database away (refused, cut, restarting) is an outage the client can wait out, not a bug:
  // answered as the AppError that says so (the log keeps the original).
  const app = appErrorOf(error);
  if (app) {
    const extensions = {
      code: app.code,
      ...(app.field !== undefined ? { field: app.field } : {}),
      ...(app.details ? { details: app.details } : {}),
      ...(app instanceof RateLimitedError ? { retryAfterMs: app.retryAfterMs } : {}),
    };
    if (isGraphQLError(error) && error.message === app.message) {
      Object.assign(error.extensions, extensions);
      return clientError(error);
    }
    const at = isGraphQLError(error) ? error : undefined;
    const masked = createGraphQLError(app.message, { nodes: at?.nodes, source: at?.source, positions: at?.positions, path: at?.path, extensions });
    const http: unknown = at?.extensions.http;
    if (http !== undefined) Object.defineProperty(masked.extensions, 'http', { value: http, enumerable: false });
    return masked;
  }
  if (isRequestError(error)) {
    if (error.extensions.code === OPERATION_RESOLUTION_FAILURE) error.extensions.code = GRAPHQL_CODES.validationFailed;
    if (typeof error.extensions.code !== 'string') error.extensions.code = GRAPHQL_CODES.badUserInput;
    if (error.extensions.code === GRAPHQL_CODES.badRequest) notWellFormed(error);
    return clientError(error);
  }
  const at = isGraphQLError(error) ? error : undefined;
  return createGraphQLError(message, {
    nodes: at?.nodes,
    source: at?.source,
    positions: at?.positions,
    path: at?.path,
    extensions: { code: GRAPHQL_CODES.internal },
  });
}

/** What a GraphQLError wraps, all the way down. */
function originalOf(error: unknown): unknown {
  let e = error;
  while (isGraphQLError(e) && e.originalError) e = e.originalError;
  return e;
}

/** HTTP status of a request refused with one of these codes before it produced any data. */
const REQUEST_ERROR_STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  UNKNOWN_TASK: 400,
  INVALID_ARGUMENTS: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
};

/**
 * Gives yoga the HTTP status of a request error: the errors of a result that has no `data` at
 * all, such as a subscription whose source stream could not start (unknown id, malformed id).
 * Yoga counts a GraphQLError wrapping a non-GraphQL error (here an AppError) as unexpected and,
 * with no `data`, answers 500; `extensions.http` overrides that. `spec: true` makes it a status
 * the GraphQL-over-HTTP spec asks for under `application/graphql-response+json` only, as yoga
 * does for validation errors: `application/json` and SSE keep 200. Errors that are not expected
 * ones (an outage) are left alone and stay 500.
 *
 * Non-enumerable: it steers yoga's choice of status and is not part of the error the client
 * sees (graphql-ws serializes errors as they are).
 */
export function markRequestErrors(errors: readonly unknown[]): void {
  for (const error of errors) {
    const code = findAppError(error)?.code;
    const status = code === undefined ? undefined : REQUEST_ERROR_STATUS[code];
    if (status === undefined || !isGraphQLError(error)) continue;
    Object.defineProperty(error.extensions, 'http', { value: { status, spec: true }, enumerable: false, configurable: true });
  }
}
