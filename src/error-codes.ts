/**
 * Every code a taskwire server can put in a GraphQL error's `extensions.code`: the one list
 * the server (src/errors.ts, src/graphql/errors.ts) and the client (src/client/errors.ts) share,
 * and docs/graphql.md's error table shows (test/error-codes.test.ts keeps the three in step).
 * No imports: the client bundles this file and nothing else of the server.
 */
export const ERROR_CODES = [
  // Expected errors of the core and the API (AppError codes).
  'UNKNOWN_TASK',
  'INVALID_ARGUMENTS',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'CONFLICT',
  // Authentication, authorization and rate limits (DESIGN Part 2 B; not sent while auth is off).
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
  // The server is shutting down: try again (on another server, or once it is back).
  'SHUTTING_DOWN',
  // The server cannot reach its database (refused, cut, restarting): try again.
  'DATABASE_UNAVAILABLE',
  // About the request itself, before anything runs: graphql-js, yoga and the body limit.
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PAYLOAD_TOO_LARGE',
  // Anything unexpected, masked.
  'INTERNAL_SERVER_ERROR',
] as const;

/** A code of ERROR_CODES. */
export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(ERROR_CODES);

/** Whether `value` is one of ERROR_CODES (a newer server may send codes an older client does not know). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && KNOWN.has(value);
}
