/**
 * From an `Authorization` header to a Principal: the one place credentials are told apart and
 * checked. API keys (`tw_…`) are read from the database on every request, so a revocation
 * holds for the next request (docs/auth.md gives the cost); read tokens and JWTs are checked
 * by signature, a read token made with an API key also by that key's row.
 */
import type { AuthConfig } from '../config.js';
import type { Executor } from '../db/client.js';
import { CredentialExpiredError, UnauthenticatedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { API_KEY_PREFIX, createApiKeyChecker } from './api-keys.js';
import { createJwtVerifier, jwtConfigured, type JwtVerifier } from './jwt.js';
import { ANONYMOUS, type Principal } from './principal.js';
import { createReadTokens, looksLikeReadToken, type ReadTokens } from './read-tokens.js';

export interface Authenticator {
  /**
   * The principal of an `Authorization` header value (`Bearer <API key, read token or JWT>`).
   * AUTH_MODE=off: ANONYMOUS, whatever is sent.
   * @throws UnauthenticatedError, one message for every reason (missing, malformed, unknown,
   *   bad signature or secret); the reason is logged at debug, never the credential.
   *   CredentialExpiredError (an UnauthenticatedError) for a credential whose signature or
   *   secret is right but that has expired or was revoked: that one says so, as its holder
   *   learns nothing new, and it is no guess (the failed-auth throttle does not count it).
   *   Other errors (the database is away) propagate as they are.
   */
  authenticate(authorization: string | undefined): Promise<Principal>;
  /**
   * Whether a principal authenticated earlier still holds: not expired, its API key (or the
   * key that made its read token) not revoked. One primary-key read for those, none for the
   * rest. The server asks every few seconds for principals with open subscriptions.
   * @throws when the database cannot be asked (the caller asks again later).
   */
  stillValid(principal: Principal): Promise<boolean>;
  /** Issues and checks read tokens; null while AUTH_MODE=off. */
  readonly readTokens: ReadTokens | null;
}

export interface AuthenticatorOptions {
  sql: Executor;
  /** The process's configuration (its `auth` part is read). */
  config: { readonly auth: AuthConfig };
  log: Logger;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

/** Longest credential looked at, in characters (a read token with 100 task ids is ~5,000). */
export const MAX_CREDENTIAL_LENGTH = 16_384;

const BEARER = /^Bearer +([^\s]+) *$/i;

/** The credential of `Bearer <credential>`, or undefined. */
function bearer(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > MAX_CREDENTIAL_LENGTH + 16) return undefined;
  return BEARER.exec(authorization)?.[1];
}

/**
 * An authenticator for `config.auth`. It has no background work: nothing to start or stop.
 * @throws ConfigError when the JWT settings are unusable (see createJwtVerifier).
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { sql, log } = options;
  const auth = options.config.auth;
  const now = options.now ?? Date.now;
  if (auth.mode === 'off') {
    return { authenticate: async () => ANONYMOUS, stillValid: async () => true, readTokens: null };
  }
  const readTokens = createReadTokens({ sql, secret: auth.readTokenSecret, ttlS: auth.readTokenTtlS, log, now });
  // Concurrent key reads share one query (the checker says why); every check still reads its row.
  const apiKeys = createApiKeyChecker(sql);
  const verifyJwt: JwtVerifier | undefined = jwtConfigured(auth.jwt) ? createJwtVerifier(auth.jwt, { log, now }) : undefined;

  const refuse = (reason: string): never => {
    log.debug({ reason }, 'authentication refused');
    throw new UnauthenticatedError();
  };

  const stillValid = async (principal: Principal): Promise<boolean> => {
    if (principal.kind === 'anonymous') return true;
    if (principal.expiresAt !== undefined && principal.expiresAt.getTime() <= now()) return false;
    if (principal.kind === 'api-key' || (principal.kind === 'read-token' && principal.issuerKind === 'api-key')) {
      return apiKeys.stillValid(principal.id, new Date(now()));
    }
    return true;
  };

  return {
    readTokens,
    stillValid,
    async authenticate(authorization) {
      const credential = bearer(authorization);
      if (credential === undefined) return refuse(authorization === undefined ? 'no credential' : 'not "Bearer <credential>"');
      if (credential.startsWith(API_KEY_PREFIX)) {
        return (await apiKeys.verify(credential, new Date(now()))) ?? refuse('API key malformed, unknown or its secret wrong');
      }
      if (looksLikeReadToken(credential)) {
        const principal = (await readTokens.verify(credential)) ?? refuse('read token invalid or expired');
        // A read token dies with the API key that made it. Its signature held: no guess.
        if (!(await stillValid(principal))) {
          log.debug({ reason: 'read token of a revoked or expired API key' }, 'authentication refused');
          throw new CredentialExpiredError('The read token has expired: the API key that made it was revoked or has expired');
        }
        return principal;
      }
      if (verifyJwt) return verifyJwt(credential);
      return refuse('not an API key or read token, and no JWT key is configured');
    },
  };
}
