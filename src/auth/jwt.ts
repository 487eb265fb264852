/**
 * API JWTs, verified by jose: HS256 with JWT_SECRET, RS256/ES256 with a JWKS (JWT_JWKS_URL,
 * fetched and cached by jose, or JWT_JWKS_FILE). Algorithms are allow-listed per key: HS256
 * only against the secret, RS256/ES256 only against the JWKS, so `alg: none` and an HS256
 * token "signed" with a public key are refused whatever the token says.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config.js';
import { maskUrlIn } from '../masking.js';
import { ConfigError, CredentialExpiredError, CredentialNotAGuessError, UnauthenticatedError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { isTenant, type Principal, type Scope } from './principal.js';
import { READ_TOKEN_HEADER_TYP, READ_TOKEN_TYP } from './read-tokens.js';
import { isScope } from './scopes.js';

/**
 * Checks an API JWT. @throws UnauthenticatedError (always the same message) when it is not valid;
 * CredentialExpiredError when all that is wrong is its `exp` (its signature and other claims hold).
 */
export type JwtVerifier = (token: string) => Promise<Principal>;

export type JwtConfig = AuthConfig['jwt'];

export interface JwtVerifierOptions {
  /** Why tokens are refused, at debug (never the token); JWKS fetch failures at warn. Default: silent. */
  log?: Logger;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

/** Longest `sub` accepted, in characters: it names the principal in logs and `Task.createdBy`. */
export const MAX_SUBJECT_LENGTH = 255;

const SYMMETRIC = ['HS256'] as const;
/** jose's codes for a JWKS it could not fetch or read (a timeout, a non-200 answer, not a key set). */
const JWKS_UNAVAILABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC']);
const ASYMMETRIC = ['RS256', 'ES256'] as const;

/** Whether JWTs can be checked at all: a secret or a JWKS is configured. */
export function jwtConfigured(config: JwtConfig): boolean {
  return config.secret !== undefined || config.jwksUrl !== undefined || config.jwksFile !== undefined;
}

function loadJwksFile(file: string): JSONWebKeySet {
  let jwks: unknown;
  try {
    jwks = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`JWT_JWKS_FILE=${file}: cannot read a JSON key set (${error instanceof Error ? error.message : String(error)})`, {
      field: 'JWT_JWKS_FILE',
      cause: error,
    });
  }
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new ConfigError(`JWT_JWKS_FILE=${file}: not a JWKS (an object with a "keys" array)`, { field: 'JWT_JWKS_FILE' });
  }
  return jwks as JSONWebKeySet;
}

/**
 * `error` for a log line, with the JWKS URL masked in its message, stack and cause (maskUrlIn): fetch
 * quotes the URL whole in some errors, and a password in it must not reach the log collector.
 */
function withUrlMasked(error: unknown, url: string): unknown {
  if (!(error instanceof Error)) return typeof error === 'string' ? maskUrlIn(error, url) : error;
  const masked = new Error(maskUrlIn(error.message, url));
  masked.name = error.name;
  masked.stack = error.stack === undefined ? undefined : maskUrlIn(error.stack, url);
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) Object.assign(masked, { code });
  if (error.cause !== undefined) masked.cause = withUrlMasked(error.cause, url);
  return masked;
}

/** The scopes of the scope claim: a space-separated string (OAuth 2.0) or an array of strings. */
function scopesOf(claim: unknown): string[] | undefined {
  if (claim === undefined) return [];
  if (typeof claim === 'string') return claim.split(' ').filter(Boolean);
  if (Array.isArray(claim) && claim.every((s) => typeof s === 'string')) return claim as string[];
  return undefined;
}

/**
 * A verifier for the configured key(s). Requires `exp` and `sub`, and `iss` / `aud` when
 * JWT_ISSUER / JWT_AUDIENCE are set; the tenant claim (JWT_TENANT_CLAIM, default `tenant`) is
 * required too; scopes (JWT_SCOPE_CLAIM, default `scope`) it does not know are dropped (logged
 * at debug), not fatal. A read token is refused here.
 * @throws ConfigError when no key is configured, both a JWKS URL and file are, or the file is not a JWKS.
 */
export function createJwtVerifier(config: JwtConfig, options: JwtVerifierOptions = {}): JwtVerifier {
  const log = options.log ?? silentLogger;
  const now = options.now ?? Date.now;
  if (!jwtConfigured(config)) throw new ConfigError('JWTs need JWT_SECRET, JWT_JWKS_URL or JWT_JWKS_FILE', { field: 'JWT_SECRET' });
  if (config.jwksUrl !== undefined && config.jwksFile !== undefined) {
    throw new ConfigError('Set one of JWT_JWKS_URL and JWT_JWKS_FILE, not both', { field: 'JWT_JWKS_FILE' });
  }
  const secret = config.secret === undefined ? undefined : new TextEncoder().encode(config.secret);
  // jose's remote set caches the keys (10 min), refetches for an unknown kid (at most every 30 s), times out after 5 s.
  const jwks =
    config.jwksUrl !== undefined
      ? createRemoteJWKSet(new URL(config.jwksUrl))
      : config.jwksFile !== undefined
        ? createLocalJWKSet(loadJwksFile(config.jwksFile))
        : undefined;
  const algorithms = [...(secret ? SYMMETRIC : []), ...(jwks ? ASYMMETRIC : [])];
  // The key follows the algorithm jose has already checked against `algorithms`: HS256 gets the
  // secret and nothing else, so a public key can never serve as an HMAC secret.
  const getKey: JWTVerifyGetKey = (header, token) => {
    if (header.alg === 'HS256' && secret) return secret;
    if (jwks && (ASYMMETRIC as readonly string[]).includes(header.alg ?? '')) return jwks(header, token);
    throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  };

  // `sub` only from a token whose signature held (a claim check failed after it): a forged one's is anyone's word.
  // `notGuess`: its signature held, or it could not be checked (the JWKS unavailable).
  /** When a not-yet-valid JWT was last said at info (performance.now()). */
  let nbfSaidAt = Number.NEGATIVE_INFINITY;
  const refuse = (reason: string, sub?: unknown, outcome: 'guess' | 'expired' | 'notGuess' = 'guess'): never => {
    log.debug({ reason, ...(typeof sub === 'string' ? { sub: sub.slice(0, MAX_SUBJECT_LENGTH) } : {}) }, 'JWT refused');
    throw outcome === 'expired' ? new CredentialExpiredError() : outcome === 'notGuess' ? new CredentialNotAGuessError() : new UnauthenticatedError();
  };

  return async (token) => {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return refuse('malformed');
    }
    if (header.typ === READ_TOKEN_HEADER_TYP) return refuse('a read token');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms,
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(now()),
        ...(config.issuer !== undefined ? { issuer: config.issuer } : {}),
        ...(config.audience !== undefined ? { audience: config.audience } : {}),
      }));
    } catch (error) {
      const unchecked = !(error instanceof errors.JOSEError) || JWKS_UNAVAILABLE.has(error.code);
      if (unchecked) {
        // Not the token's fault (the JWKS cannot be fetched): the operator needs to hear of it.
        log.warn({ err: config.jwksUrl === undefined ? error : withUrlMasked(error, config.jwksUrl) }, 'JWT not checked: the JWKS is unavailable');
      }
      // Not valid yet: a genuine token from an issuer whose clock is ahead of the database's (or a
      // server judging on a clock behind, before expiry moved to the database's). Said to the client,
      // and to the operator once a minute, with the gap: the generic refusal named no clock.
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf' && typeof error.payload.nbf === 'number') {
        const aheadS = Math.round(error.payload.nbf - now() / 1000);
        if (performance.now() - nbfSaidAt > 60_000) {
          nbfSaidAt = performance.now();
          log.info({ sub: typeof error.payload.sub === 'string' ? error.payload.sub.slice(0, MAX_SUBJECT_LENGTH) : undefined, nbfAheadS: aheadS }, `JWT refused: not valid until ${aheadS} s from now by the database's clock; is the identity provider's clock ahead?`);
        }
        log.debug({ reason: 'nbf' }, 'JWT refused');
        throw new CredentialNotAGuessError(`The credential is not valid yet (its nbf is ${aheadS} s ahead): try again then, or check the issuer's clock`);
      }
      // jose checks the claims (exp, nbf, iss, aud) after the signature: their failures carry the payload.
      const signed = error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired;
      const verified = signed ? error.payload.sub : undefined;
      // jose checks `exp` last: JWTExpired means the signature, `iss`, `aud` and `nbf` all held.
      return refuse(error instanceof errors.JOSEError ? error.code : 'error', verified, error instanceof errors.JWTExpired ? 'expired' : signed || unchecked ? 'notGuess' : 'guess');
    }
    if (payload.typ === READ_TOKEN_TYP) return refuse('a read token', payload.sub, 'notGuess');
    // jose takes any number: one past what a Date holds (year 275,760) made an Invalid Date, on
    // which Viewer.expiresAt failed and every expiry timer of the credential fired each millisecond.
    const expiresAt = new Date((payload.exp as number) * 1000);
    if (Number.isNaN(expiresAt.getTime())) return refuse('exp', payload.sub, 'notGuess');
    const { sub } = payload;
    if (typeof sub !== 'string' || sub === '' || sub.length > MAX_SUBJECT_LENGTH || /[\p{Cc}\p{Cs}]/u.test(sub)) return refuse('sub', undefined, 'notGuess');
    const tenant = payload[config.tenantClaim];
    if (!isTenant(tenant)) return refuse(`the tenant claim "${config.tenantClaim}"`, sub, 'notGuess');
    const claimed = scopesOf(payload[config.scopeClaim]);
    if (!claimed) return refuse(`the scope claim "${config.scopeClaim}"`, sub, 'notGuess');
    const scopes: Scope[] = [];
    for (const scope of new Set(claimed)) {
      if (isScope(scope)) scopes.push(scope);
      else log.debug({ sub, scope: scope.slice(0, 100) }, 'JWT scope ignored: unknown');
    }
    return {
      kind: 'jwt',
      id: sub,
      tenant,
      scopes: Object.freeze(scopes),
      // `exp` is required and checked by jose: a number by now.
      expiresAt,
    };
  };
}
