import { SignJWT } from 'jose';
import { createApiKey, revokeApiKey, type CreatedApiKey } from '../../src/auth/api-keys.js';
import type { Sql } from '../../src/db/client.js';
import { bearer } from './auth-transports.js';

/**
 * Credentials for the tests of an authenticated server (AUTH_MODE=on with AUTH_ENV): API keys
 * made in its database, HS256 JWTs signed with its JWT_SECRET (or deliberately not), and the list
 * of credentials every transport must refuse.
 */

/** The HS256 secret of AUTH_ENV's JWT_SECRET. */
export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789-abcdefghij';
/** AUTH_ENV's JWT_AUDIENCE. */
export const TEST_JWT_AUDIENCE = 'taskwire-tests';
/** Configuration of a server with authentication on: API keys, and JWTs signed with TEST_JWT_SECRET for TEST_JWT_AUDIENCE. */
export const AUTH_ENV: Readonly<Record<string, string>> = Object.freeze({ AUTH_MODE: 'on', JWT_SECRET: TEST_JWT_SECRET, JWT_AUDIENCE: TEST_JWT_AUDIENCE });

export interface TestJwtOptions {
  /** Default 'user-1'. */
  sub?: string;
  /** Default 'acme'. */
  tenant?: string;
  /** Space-separated scopes (default 'tasks:read tasks:enqueue'). */
  scope?: string;
  /** Seconds from now until `exp` (default 600; negative: already expired). */
  expiresIn?: number;
  /** Default TEST_JWT_SECRET. */
  secret?: string;
  /** Default TEST_JWT_AUDIENCE. */
  audience?: string;
}

/** An HS256 JWT as AUTH_ENV's server accepts it, unless an option says otherwise. */
export function signTestJwt(o: TestJwtOptions = {}): Promise<string> {
  return new SignJWT({ tenant: o.tenant ?? 'acme', scope: o.scope ?? 'tasks:read tasks:enqueue' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(o.sub ?? 'user-1')
    .setAudience(o.audience ?? TEST_JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresIn ?? 600))
    .sign(new TextEncoder().encode(o.secret ?? TEST_JWT_SECRET));
}

const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/**
 * `alg: none`: a token with no signature, which no verifier may accept. `header` is merged into
 * the header (e.g. the read tokens' `typ`), `claims` into an admin-scoped payload for 'acme'.
 */
export function unsignedJwt(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
  const payload = { sub: 'user-1', tenant: 'acme', scope: 'admin', aud: TEST_JWT_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600, ...claims };
  return `${part({ alg: 'none', typ: 'JWT', ...header })}.${part(payload)}.`;
}

/**
 * `key` with one character of its secret changed: well formed, its id real, its secret wrong. The
 * change always differs from the original (a fixed replacement would leave a key that already ends
 * in it unchanged, one key in 64).
 */
export function withWrongSecret(key: string): string {
  return `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
}

/** An API key of `tenant` (default scopes: tasks:read, tasks:enqueue). */
export function createTestKey(sql: Sql, tenant: string, scopes: readonly string[] = ['tasks:read', 'tasks:enqueue']): Promise<CreatedApiKey> {
  return createApiKey(sql, { tenant, scopes });
}

/**
 * Every credential an AUTH_ENV server must refuse, by name, as the headers that carry it (graphql-ws:
 * their `authorization` as connectionParams). Makes (and revokes) one API key in `sql`.
 */
export async function refusedCredentials(sql: Sql): Promise<[string, Record<string, string>][]> {
  const revoked = await createTestKey(sql, 'acme');
  await revokeApiKey(sql, revoked.id);
  return [
    ['no credential', {}],
    ['a malformed one', bearer('not-a-credential')],
    ['a malformed API key', bearer('tw_0123_abc')],
    ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['an expired JWT', bearer(await signTestJwt({ expiresIn: -60 }))],
    ['a JWT with a wrong signature', bearer(await signTestJwt({ secret: 'another-secret-0123456789-abcdefghijklm' }))],
    ['a JWT for another audience', bearer(await signTestJwt({ audience: 'someone-else' }))],
    ['alg none', bearer(unsignedJwt())],
    ['a revoked API key', bearer(revoked.key)],
  ];
}
