/**
 * Read tokens: short-lived HS256 JWTs (checked by jose; signed with node:crypto, see signHs256)
 * that let a browser read and subscribe to a few tasks, nothing else. Signed with READ_TOKEN_SECRET or, unset, a secret made once and kept in
 * `taskwire_settings`, so every server of a deployment signs and checks alike.
 *
 * A read token carries `typ: 'taskwire-read'` (claim) and `typ: 'taskwire-read+jwt'` (header):
 * these verify only tokens that have them, and the API JWT verifier (src/auth/jwt.ts) refuses
 * every token that has either, so neither passes for the other even when the two secrets are equal.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { Executor } from '../db/client.js';
import { BadUserInputError, CredentialExpiredError, NotFoundError, UnauthenticatedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isUuid } from '../queue/uuid.js';
import { isTenant, type Principal, type PrincipalKind } from './principal.js';

/** Makes read tokens: good only to read and subscribe to the given tasks. */
export interface ReadTokenIssuer {
  /**
   * A token for `taskIds` of `principal`'s tenant, valid `ttlSeconds` (default READ_TOKEN_TTL_S),
   * never past the principal's own expiry. The caller checks that the tasks exist and are
   * visible to the principal; this checks the rest. The token's tenant is `principal.tenant`: for
   * an admin (who sees every tenant) the caller passes the principal with the tasks' tenant.
   * @throws BadUserInputError (field `taskIds` or `ttlSeconds`): no ids, more than
   *   MAX_READ_TOKEN_TASKS, a malformed id, a ttl out of range. NotFoundError: a read token
   *   asking for a task beyond its own. UnauthenticatedError: the principal has expired.
   */
  issue(principal: Principal, taskIds: readonly string[], ttlSeconds?: number): Promise<{ token: string; expiresAt: Date }>;
}

/** Issues and checks read tokens. */
export interface ReadTokens extends ReadTokenIssuer {
  /**
   * The principal of a read token (kind `read-token`, scopes `['tasks:read']`, its task ids),
   * or undefined when it is not a valid read token. Whether its issuer is still valid is the
   * authenticator's check (src/auth/authenticate.ts).
   * @throws CredentialExpiredError when it is one (its signature verifies) that has expired;
   *   whatever reading the secret from the database throws.
   */
  verify(token: string): Promise<Principal | undefined>;
}

export interface ReadTokensOptions {
  sql: Executor;
  /** READ_TOKEN_SECRET; undefined: the deployment's secret in `taskwire_settings` (made on first use). */
  secret?: string | undefined;
  /** Default lifetime, in seconds (READ_TOKEN_TTL_S). */
  ttlS: number;
  log: Logger;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

/** The `typ` claim of every read token. */
export const READ_TOKEN_TYP = 'taskwire-read';
/** The `typ` header of every read token. */
export const READ_TOKEN_HEADER_TYP = 'taskwire-read+jwt';
/** Most task ids one read token may carry. */
export const MAX_READ_TOKEN_TASKS = 100;
/** Longest lifetime a read token may be asked for, in seconds (31 days, as READ_TOKEN_TTL_S). */
export const MAX_READ_TOKEN_TTL_S = 31 * 86_400;

const SETTINGS_KEY = 'read_token_secret';
const KINDS: readonly PrincipalKind[] = ['api-key', 'jwt', 'read-token', 'anonymous'];

interface ReadTokenClaims {
  typ: string;
  sub: string;
  tenant: string;
  tasks: string[];
  /** How the issuer authenticated (Principal.issuerKind). */
  ik: PrincipalKind;
  exp: number;
}

/**
 * Whether `token` says it is a read token (its header's `typ`). Not verified: only for choosing
 * which verifier to ask, each of which checks everything.
 */
export function looksLikeReadToken(token: string): boolean {
  try {
    return decodeProtectedHeader(token).typ === READ_TOKEN_HEADER_TYP;
  } catch {
    return false;
  }
}

/**
 * The deployment's read-token secret, made now if there is none. Insert-if-absent, then read:
 * two servers starting at once both read the one that won.
 */
export async function loadReadTokenSecret(sql: Executor): Promise<string> {
  const candidate = randomBytes(32).toString('base64url');
  await sql`INSERT INTO taskwire_settings (key, value) VALUES (${SETTINGS_KEY}, ${candidate}) ON CONFLICT (key) DO NOTHING`;
  const [row] = await sql<{ value: string }[]>`SELECT value FROM taskwire_settings WHERE key = ${SETTINGS_KEY}`;
  if (!row) throw new Error('taskwire_settings lost the read-token secret just written');
  return row.value;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: READ_TOKEN_HEADER_TYP })).toString('base64url');

/**
 * The compact JWS (RFC 7515) of `claims`, HS256 with `key`: what jose's SignJWT makes, signed
 * here with node:crypto's HMAC instead. jose signs through WebCrypto, an asynchronous job per
 * token plus a key import (~0.1 ms of CPU under load), and every `enqueueTask` with auth on makes
 * one; each job also finishes at its own moment, which spreads requests that had been arriving
 * together and costs them their shared commit (docs/auth.md, "What it costs"). Checking stays
 * with jose (`verify` below), so a token this made that jose would refuse fails the tests.
 */
function signHs256(claims: ReadTokenClaims & { iat: number }, key: Uint8Array): string {
  const input = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** Lowercased, deduplicated task ids. */
function validTaskIds(taskIds: readonly string[]): string[] {
  if (!Array.isArray(taskIds) || taskIds.length === 0) throw new BadUserInputError('At least one task id is required', { field: 'taskIds' });
  const ids = [...new Set(taskIds.map((id) => (typeof id === 'string' ? id.toLowerCase() : '')))];
  if (ids.length > MAX_READ_TOKEN_TASKS) {
    throw new BadUserInputError(`A read token covers at most ${MAX_READ_TOKEN_TASKS} tasks`, { field: 'taskIds' });
  }
  const bad = ids.find((id) => !isUuid(id));
  if (bad !== undefined) throw new BadUserInputError(`Not a task id: ${JSON.stringify(bad)}`, { field: 'taskIds' });
  return ids;
}

function claimsOf(payload: Record<string, unknown>): ReadTokenClaims | undefined {
  const { typ, sub, tenant, tasks, ik, exp } = payload;
  if (typ !== READ_TOKEN_TYP || typeof sub !== 'string' || sub === '' || !isTenant(tenant)) return undefined;
  if (!KINDS.includes(ik as PrincipalKind) || typeof exp !== 'number') return undefined;
  if (!Array.isArray(tasks) || tasks.length === 0 || tasks.length > MAX_READ_TOKEN_TASKS) return undefined;
  if (!tasks.every((id): id is string => typeof id === 'string' && isUuid(id) && id === id.toLowerCase())) return undefined;
  return { typ, sub, tenant, tasks, ik: ik as PrincipalKind, exp };
}

/** Read tokens signed with `secret` or the deployment's secret (read once, on first use). */
export function createReadTokens(options: ReadTokensOptions): ReadTokens {
  const now = options.now ?? Date.now;
  const encode = (secret: string): Uint8Array => new TextEncoder().encode(secret);
  let key: Promise<Uint8Array> | undefined = options.secret === undefined ? undefined : Promise.resolve(encode(options.secret));
  const signingKey = (): Promise<Uint8Array> => {
    // Kept once read; a failed read (database away) is not kept, so the next call tries again.
    key ??= loadReadTokenSecret(options.sql).then(encode, (error: unknown) => {
      key = undefined;
      throw error;
    });
    return key;
  };

  return {
    async issue(principal, taskIds, ttlSeconds = options.ttlS) {
      const ids = validTaskIds(taskIds);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_READ_TOKEN_TTL_S) {
        throw new BadUserInputError(`ttlSeconds must be a whole number from 1 to ${MAX_READ_TOKEN_TTL_S}`, { field: 'ttlSeconds' });
      }
      // A read token makes tokens only for its own tasks (others answer as ones that do not exist).
      const beyond = principal.taskIds && ids.find((id) => !principal.taskIds!.includes(id));
      if (beyond) throw new NotFoundError('Task', beyond, { field: 'taskIds' });
      const { tenant } = principal;
      if (!isTenant(tenant)) throw new BadUserInputError('Not a tenant', { field: 'tenant' });
      const t = now();
      // Whole seconds (JWT NumericDate), rounded down: never past the principal's expiry.
      const until = Math.min(t + ttlSeconds * 1000, principal.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY);
      const exp = Math.floor(until / 1000);
      if (exp * 1000 <= t) throw new UnauthenticatedError();
      const claims = { typ: READ_TOKEN_TYP, tenant, tasks: ids, ik: principal.issuerKind ?? principal.kind, sub: principal.id, iat: Math.floor(t / 1000), exp };
      return { token: signHs256(claims, await signingKey()), expiresAt: new Date(exp * 1000) };
    },

    async verify(token) {
      if (!looksLikeReadToken(token)) return undefined;
      const secret = await signingKey();
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, secret, {
          algorithms: ['HS256'],
          typ: READ_TOKEN_HEADER_TYP,
          requiredClaims: ['exp', 'sub'],
          currentDate: new Date(now()),
        }));
      } catch (error) {
        options.log.debug({ reason: (error as { code?: unknown }).code ?? String(error) }, 'read token refused');
        // jose checks `exp` after the signature and `typ`: a token this deployment signed, only too old.
        if (error instanceof errors.JWTExpired) throw new CredentialExpiredError('The read token has expired: ask its issuer for a fresh one');
        return undefined;
      }
      const claims = claimsOf(payload);
      if (!claims) {
        options.log.debug({ reason: 'claims' }, 'read token refused');
        return undefined;
      }
      return {
        kind: 'read-token',
        id: claims.sub,
        tenant: claims.tenant,
        scopes: Object.freeze(['tasks:read']),
        taskIds: Object.freeze(claims.tasks),
        expiresAt: new Date(claims.exp * 1000),
        issuerKind: claims.ik,
      };
    },
  };
}
