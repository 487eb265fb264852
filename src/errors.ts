/**
 * Expected errors of taskwire. Each has a stable `code` that clients can rely on;
 * the GraphQL layer maps them once (src/graphql/errors.ts). Nothing here imports graphql.
 */
import type { ErrorCode } from './error-codes.js';

export { ERROR_CODES, isErrorCode, type ErrorCode } from './error-codes.js';

/**
 * Codes of errors that stay in the process and never reach an API client: a bad configuration
 * ends the process before it serves anything.
 */
export type LocalErrorCode = 'CONFIG_INVALID' | 'WAIT_TIMEOUT';

/** The code of an AppError: one a client can see (ERROR_CODES) or a local one. */
export type AppErrorCode = ErrorCode | LocalErrorCode;

export interface AppErrorOptions {
  cause?: unknown;
  /** The input field the error is about, e.g. `input.priority` or `args[1]`. */
  field?: string;
  details?: Record<string, unknown>;
}

/** Base class of every expected error. */
export class AppError extends Error {
  readonly code: AppErrorCode;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: AppErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.field = options.field;
    this.details = options.details;
  }

  /** This error (its class, code and field kept) with `details` added and, given, another message: for a caller that knows more than the thrower. */
  withDetails(details: Record<string, unknown>, message?: string): this {
    (this as { details: Record<string, unknown> | undefined }).details = { ...this.details, ...details };
    if (message !== undefined) this.message = message;
    return this;
  }
}

/** The process is stopping: a subscription asked for now is refused (a client retries elsewhere). */
export class ShuttingDownError extends AppError {
  constructor() {
    super('SHUTTING_DOWN', 'The server is shutting down; subscribe again (another server, or this one once it is back)');
  }
}

/** The database does not answer: refused, cut off, restarting or full. Nothing was done; try again. */
export class DatabaseUnavailableError extends AppError {
  constructor(options: AppErrorOptions = {}, message = 'The database is unavailable (refused, cut off, restarting or out of room); nothing was done, try again') {
    super('DATABASE_UNAVAILABLE', message, options);
  }
}

/**
 * A statement waited DB_LOCK_TIMEOUT_MS for a lock another session held (a table locked for
 * maintenance, a migration queued behind a long transaction): the same answer as an outage, since
 * nothing was done and trying again is right, with a message that says what to look for.
 */
export class LockTimeoutError extends DatabaseUnavailableError {
  constructor(options: AppErrorOptions = {}) {
    super(options, 'The database did not grant a lock within DB_LOCK_TIMEOUT_MS (another session holds the table or row); nothing was done, try again');
  }
}

/** The error for a request the database did not serve (isDatabaseUnavailable): a lock wait's own, else the outage's. */
export function databaseUnavailableError(original: unknown): DatabaseUnavailableError {
  return sqlStateOf(original) === LOCK_NOT_AVAILABLE ? new LockTimeoutError() : new DatabaseUnavailableError();
}

/** lock_not_available: a lock_timeout ran out (taskwire never locks with NOWAIT). */
const LOCK_NOT_AVAILABLE = '55P03';

/** Whether `error` (or what caused it) is a wait for a lock past DB_LOCK_TIMEOUT_MS: a busy row or table, not an outage. */
export function isLockTimeout(error: unknown): boolean {
  return sqlStateOf(error) === LOCK_NOT_AVAILABLE;
}

/** `error` and what caused it, five deep at most (a cause chain can loop). */
function* causes(error: unknown): Generator<{ code?: unknown; message?: unknown; detail?: unknown; syscall?: unknown }> {
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    yield e as { code?: unknown; message?: unknown; detail?: unknown; syscall?: unknown };
  }
}

/**
 * Whether `error` (or what caused it) says the database's disk is full: disk_full (53100), or a
 * message or detail that names it where the SQLSTATE does not — a new connection that cannot write
 * its relation cache (XX000 "could not write init file"), a file that cannot grow or be written
 * (58030), a NOTIFY refused as "could not access status of transaction 0" with the disk in its detail.
 */
export function isDiskFull(error: unknown): boolean {
  for (const { code, message, detail } of causes(error)) {
    if (code === '53100' || /No space left on device|could not write init file/.test(`${String(message)} ${String(detail ?? '')}`)) return true;
  }
  return false;
}

/** The SQLSTATE of `error` or of what caused it, if any. */
function sqlStateOf(error: unknown): string | undefined {
  for (const e of causes(error)) if (typeof e.code === 'string') return e.code;
  return undefined;
}

/**
 * Connection failures of postgres.js and Node (the error's `code`, or its cause's), and SQLSTATEs of
 * a server that will not serve: class 08 (connection exception), 57P01–57P03 (shut down, crashed,
 * starting), class 53 but its configuration limits (insufficient resources: a full disk 53100, out
 * of memory 53200, too many connections 53300), and 55P03, a wait for a lock past
 * DB_LOCK_TIMEOUT_MS (the database holding the request, not refusing the statement). Other
 * database errors are the statement's. Each of these fails the whole statement, so nothing was done.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01',
  '57P02',
  '57P03',
  '53000',
  '53100',
  '53200',
  '53300',
  LOCK_NOT_AVAILABLE,
]);

/**
 * A Unix socket's refusals (src/postgres-url.ts), from `connect` only: a PostgreSQL that stopped
 * removes its socket file (ENOENT, where TCP says ECONNREFUSED), and a socket this process may not
 * open says EACCES. Outside a connect, those codes are a file's, not the database's.
 */
const SOCKET_UNAVAILABLE_CODES = new Set(['ENOENT', 'EACCES']);

/** Whether `error` (or what caused it) is a Unix socket's refusal at connect: no socket file, or not ours to open. */
export function isSocketRefused(error: unknown): boolean {
  for (const { code, syscall } of causes(error)) if (typeof code === 'string' && SOCKET_UNAVAILABLE_CODES.has(code) && syscall === 'connect') return true;
  return false;
}

/** Node's codes for a server certificate that does not chain up to a trusted CA. */
export const UNTRUSTED_CERTIFICATE: ReadonlySet<string> = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** Node's codes for a server certificate refused: a fault of the URL or of the server's certificate. */
const TLS_CERTIFICATE_FAULTS: ReadonlySet<string> = new Set([...UNTRUSTED_CERTIFICATE, 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED']);

/**
 * A TLS fault of the connection that the URL's TLS parameters or the server's certificates decide
 * (doctor's explainConnectionError says which): a certificate refused either way, an OpenSSL
 * handshake failure (ERR_SSL_*: no common protocol version, the server refusing the client
 * certificate's CA).
 */
export function isTlsFault(code: string): boolean {
  return TLS_CERTIFICATE_FAULTS.has(code) || code.startsWith('ERR_SSL_');
}

/**
 * Whether `error` (or what caused it) says the database cannot be reached, rather than a statement failed.
 * A TLS fault too: a server certificate that expired, or was replaced by one the URL does not trust,
 * while processes run (a tester's find: every request answered INTERNAL_SERVER_ERROR, each logged with
 * its stack); nothing was done, and a worker keeps its results until the database can be reached again.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isSocketRefused(error)) return true;
  for (const { code, message } of causes(error)) {
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code) || isTlsFault(code))) return true;
    // A database closed to connections (ALLOW_CONNECTIONS false, being dropped): 55000, which other
    // statements raise for other reasons, so told by its message.
    if (code === '55000' && /not currently accepting connections/.test(String(message))) return true;
  }
  // A full disk also where the SQLSTATE is not 53100 (isDiskFull).
  return isDiskFull(error);
}

/** No task definition is registered under that name. */
export class UnknownTaskError extends AppError {
  constructor(name: string, options: AppErrorOptions = {}) {
    super('UNKNOWN_TASK', `Unknown task name "${name}"`, { field: 'name', ...options });
  }
}

/** Arguments do not satisfy the task's schema, or are not JSON. */
export class InvalidArgumentsError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('INVALID_ARGUMENTS', message, options);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string, options: AppErrorOptions = {}) {
    super('NOT_FOUND', `${what} "${id}" was not found`, { field: 'id', ...options });
  }
}

/** queue.waitFor's `timeoutMs` passed before the task finished: it may still finish later. Stays in the caller's process. */
export class TaskWaitTimeoutError extends AppError {
  constructor(
    readonly taskId: string,
    readonly timeoutMs: number,
    /** The task as last read (unfinished: a Task of the queue), if it was read. */
    readonly last?: { readonly id: string; readonly status: string },
  ) {
    super('WAIT_TIMEOUT', `Task ${taskId} did not finish within ${timeoutMs} ms${last ? ` (it is ${last.status})` : ''}`, { field: 'id' });
  }
}

export class BadUserInputError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('BAD_USER_INPUT', message, options);
  }
}

/** The request conflicts with the task's current state (e.g. cancelling a finished task). */
export class ConflictError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('CONFLICT', message, options);
  }
}

export class ConfigError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('CONFIG_INVALID', message, options);
  }
}

/** No credential, or one that is malformed, expired, revoked or not signed by a key we trust (never says which). */
export class UnauthenticatedError extends AppError {
  constructor(message = 'A valid credential is required: send `Authorization: Bearer <API key or token>`', options: AppErrorOptions = {}) {
    super('UNAUTHENTICATED', message, options);
  }
}

/**
 * A credential that proves knowledge of a secret (its signature verifies, or the API key's secret
 * is right) but has expired or was revoked. Still UNAUTHENTICATED, and it may say so: its holder
 * learns nothing it did not know. It is no guess at a secret, so the failed-authentication
 * throttle (src/server/authentication.ts) does not count it.
 */
export class CredentialExpiredError extends UnauthenticatedError {
  constructor(message = 'The credential has expired: get a fresh one and send it as `Authorization: Bearer <token>`', options: AppErrorOptions = {}) {
    super(message, options);
  }
}

/**
 * A credential that is no guess at a secret, refused all the same: a JWT whose signature verified
 * but whose claims did not hold (`aud`, `iss`, `nbf`, the tenant or scope claim), or one that could
 * not be checked at all because the JWKS is unavailable. UNAUTHENTICATED, and not counted by the
 * failed-authentication throttle: an identity provider's blip or one mis-issued token would
 * otherwise lock out every client behind the same address, API keys included.
 */
export class CredentialNotAGuessError extends UnauthenticatedError {}

/** The credential is valid but lacks the scope the operation needs (never used for another tenant's ids: those are NOT_FOUND). */
export class ForbiddenError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('FORBIDDEN', message, options);
  }
}

/** Too many requests of one principal (or failed attempts from one address); try again after `retryAfterMs`. */
export class RateLimitedError extends AppError {
  /** How long to wait before the next attempt can succeed, in ms (GraphQL: `extensions.retryAfterMs`). */
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number, options: AppErrorOptions = {}) {
    super('RATE_LIMITED', message, options);
    this.retryAfterMs = Math.max(1, Math.ceil(retryAfterMs));
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
