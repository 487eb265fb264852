import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier, type JwtConfig } from '../../src/auth/jwt.js';
import { createReadTokens } from '../../src/auth/read-tokens.js';
import { AppError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { captureLog } from '../helpers/log-capture.js';

const SECRET = 'an-hs256-secret-of-at-least-32-characters!';
const ISSUER = 'https://idp.example';
const AUDIENCE = 'taskwire';

interface Signer {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  kid: string;
  alg: 'RS256' | 'ES256';
}

let rsa: Signer;
let ec: Signer;
/** Not in the JWKS. */
let stranger: Signer;
let jwksServer: Server;
let jwksUrl: string;
let jwksRequests = 0;
let dir: string;
let jwksFile: string;

async function signer(alg: 'RS256' | 'ES256', kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, kid, alg };
}

beforeAll(async () => {
  [rsa, ec, stranger] = await Promise.all([signer('RS256', 'rsa-1'), signer('ES256', 'ec-1'), signer('RS256', 'other')]);
  const jwks = { keys: await Promise.all([rsa, ec].map(async (s) => ({ ...(await exportJWK(s.publicKey)), kid: s.kid, alg: s.alg, use: 'sig' }))) };
  jwksServer = createServer((_req, res) => {
    jwksRequests += 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
  dir = await mkdtemp(path.join(tmpdir(), 'taskwire-jwks-'));
  jwksFile = path.join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(jwks));
});

afterAll(async () => {
  await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const config = (over: Partial<JwtConfig> = {}): JwtConfig => ({
  secret: undefined,
  jwksUrl: undefined,
  jwksFile: undefined,
  issuer: undefined,
  audience: undefined,
  tenantClaim: 'tenant',
  scopeClaim: 'scope',
  ...over,
});

const inSeconds = (s: number): number => Math.floor(Date.now() / 1000) + s;
const CLAIMS: JWTPayload = { sub: 'user-1', tenant: 'acme', scope: 'tasks:read tasks:enqueue' };

/** A token signed by `s` (or HS256 with `key`), with `claims` over the defaults; `exp` in an hour unless given (null: none). */
async function token(s: Signer | { hs256: Uint8Array }, claims: JWTPayload & { exp?: number | null } = {}, header: Record<string, unknown> = {}): Promise<string> {
  const { exp = inSeconds(3600), ...rest } = claims;
  const jwt = new SignJWT({ ...CLAIMS, ...rest });
  if (exp !== null) jwt.setExpirationTime(exp);
  if ('hs256' in s) return jwt.setProtectedHeader({ alg: 'HS256', ...header }).sign(s.hs256);
  return jwt.setProtectedHeader({ alg: s.alg, kid: s.kid, ...header }).sign(s.privateKey);
}
const hs256 = (secret: string): { hs256: Uint8Array } => ({ hs256: new TextEncoder().encode(secret) });
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The code the verifier rejects `jwt` with. */
async function refusal(verify: (t: string) => Promise<unknown>, jwt: string): Promise<string> {
  const error = await verify(jwt).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return (error as AppError).code;
}

describe('createJwtVerifier', () => {
  it('accepts RS256 and ES256 tokens against a JWKS served over HTTP, and HS256 with JWT_SECRET', async () => {
    const verify = createJwtVerifier(config({ jwksUrl, secret: SECRET }));
    const exp = inSeconds(600);
    for (const s of [rsa, ec, hs256(SECRET)]) {
      expect(await verify(await token(s, { exp }))).toEqual({
        kind: 'jwt', id: 'user-1', tenant: 'acme', scopes: ['tasks:read', 'tasks:enqueue'], expiresAt: new Date(exp * 1000),
      });
    }
  });

  it('fetches the JWKS once and keeps it', async () => {
    const verify = createJwtVerifier(config({ jwksUrl }));
    const before = jwksRequests;
    for (let i = 0; i < 5; i++) await verify(await token(i % 2 ? rsa : ec));
    expect(jwksRequests - before).toBe(1);
  });

  it('accepts tokens against a JWKS file', async () => {
    const verify = createJwtVerifier(config({ jwksFile }));
    expect(await verify(await token(ec))).toMatchObject({ kind: 'jwt', id: 'user-1' });
  });

  it('checks issuer and audience when configured', async () => {
    const verify = createJwtVerifier(config({ jwksUrl, issuer: ISSUER, audience: AUDIENCE }));
    expect(await verify(await token(rsa, { iss: ISSUER, aud: AUDIENCE }))).toMatchObject({ id: 'user-1' });
    expect(await verify(await token(rsa, { iss: ISSUER, aud: ['other', AUDIENCE] }))).toMatchObject({ id: 'user-1' });
    expect(await refusal(verify, await token(rsa, { iss: 'https://evil.example', aud: AUDIENCE }))).toBe('UNAUTHENTICATED');
    expect(await refusal(verify, await token(rsa, { iss: ISSUER, aud: 'other' }))).toBe('UNAUTHENTICATED');
    expect(await refusal(verify, await token(rsa, { aud: AUDIENCE }))).toBe('UNAUTHENTICATED');
    expect(await refusal(verify, await token(rsa, { iss: ISSUER }))).toBe('UNAUTHENTICATED');
  });

  it('reads the tenant and scopes from the configured claims; scope may be an array; unknown scopes are dropped', async () => {
    const verify = createJwtVerifier(config({ secret: SECRET, tenantClaim: 'https://taskwire/tenant', scopeClaim: 'permissions' }));
    const jwt = await token(hs256(SECRET), { tenant: 'ignored', scope: 'admin', 'https://taskwire/tenant': 'globex', permissions: ['tasks:read', 'tasks:fly', 'tasks:enqueue:reports.*'] });
    expect(await verify(jwt)).toMatchObject({ tenant: 'globex', scopes: ['tasks:read', 'tasks:enqueue:reports.*'] });
    const none = await token(hs256(SECRET), { 'https://taskwire/tenant': 'globex' });
    expect(await verify(none)).toMatchObject({ scopes: [] });
  });

  it.each([
    ['expired', { exp: inSeconds(-10) }],
    ['without exp', { exp: null }],
    ['without sub', { sub: undefined }],
    ['with an empty sub', { sub: '' }],
    ['without the tenant claim', { tenant: undefined }],
    ['with tenant "*"', { tenant: '*' }],
    ['with a tenant that is not a string', { tenant: 42 }],
    ['with a scope claim that is neither a string nor an array of strings', { scope: { admin: true } }],
    ['not yet valid (nbf)', { nbf: inSeconds(600) }],
    // Past what a Date holds (year 275,760): Viewer.expiresAt failed, and expiry timers fired every ms.
    ['whose exp no Date can hold', { exp: 1e300 }],
  ])('refuses a token %s', async (_, claims: Record<string, unknown>) => {
    const verify = createJwtVerifier(config({ jwksUrl, secret: SECRET }));
    expect(await refusal(verify, await exactly(rsa, { ...CLAIMS, exp: inSeconds(3600), ...claims }))).toBe('UNAUTHENTICATED');
  });

  it('says why a genuine token not valid yet is refused, to the client and (once a minute) to the operator, with the gap', async () => {
    const { log, lines } = captureLog('debug');
    const verify = createJwtVerifier(config({ secret: SECRET }), { log });
    const early = await token(hs256(SECRET), { nbf: inSeconds(120) });
    for (let i = 0; i < 3; i++) {
      const error = (await verify(early).catch((e: unknown) => e)) as AppError;
      expect([error.code, error.message]).toEqual(['UNAUTHENTICATED', expect.stringMatching(/^The credential is not valid yet \(its nbf is 1(19|20) s ahead\)/)]);
    }
    const said = lines.filter((l) => l.level === 30 && typeof l.msg === 'string' && l.msg.startsWith('JWT refused: not valid until'));
    expect(said.map((l) => [l.sub, l.nbfAheadS])).toEqual([['user-1', expect.any(Number)]]);
  });

  it('refuses a wrong signature, an unknown kid and a token signed for HS256 with another secret', async () => {
    const verify = createJwtVerifier(config({ jwksUrl, secret: SECRET }));
    const forged = await token({ ...stranger, kid: rsa.kid });
    expect(await refusal(verify, forged)).toBe('UNAUTHENTICATED');
    const [h, p] = (await token(rsa)).split('.');
    expect(await refusal(verify, `${h}.${p}.${forged.split('.')[2]}`)).toBe('UNAUTHENTICATED');
    expect(await refusal(verify, await token(stranger))).toBe('UNAUTHENTICATED');
    expect(await refusal(verify, await token(hs256(`${SECRET}x`)))).toBe('UNAUTHENTICATED');
  });

  it('refuses alg none, with or without a signature', async () => {
    const verify = createJwtVerifier(config({ jwksUrl, secret: SECRET }));
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...CLAIMS, exp: inSeconds(600) })}.`;
    expect(await refusal(verify, unsigned)).toBe('UNAUTHENTICATED');
    expect(await refusal(verify, `${unsigned}c2ln`)).toBe('UNAUTHENTICATED');
    expect(await refusal(verify, `${b64({ alg: 'None' })}.${b64({ ...CLAIMS, exp: inSeconds(600) })}.`)).toBe('UNAUTHENTICATED');
  });

  it('refuses an HS256 token signed with the RSA public key (PEM), with and without a JWT_SECRET', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const confused = await token(hs256(pem), {}, { kid: rsa.kid });
    for (const c of [config({ jwksUrl }), config({ jwksUrl, secret: SECRET }), config({ jwksFile })]) {
      expect(await refusal(createJwtVerifier(c), confused)).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses HS256 when only a JWKS is configured, and RS256 when only a secret is', async () => {
    expect(await refusal(createJwtVerifier(config({ jwksUrl })), await token(hs256(SECRET)))).toBe('UNAUTHENTICATED');
    expect(await refusal(createJwtVerifier(config({ secret: SECRET })), await token(rsa))).toBe('UNAUTHENTICATED');
  });

  it.each(['', 'not-a-jwt', 'a.b.c', 'a.b', '...', `${b64({ alg: 'RS256' })}.@@@.x`, `${b64([1])}.${b64({})}.x`])('refuses the malformed token %j', async (jwt) => {
    expect(await refusal(createJwtVerifier(config({ jwksUrl, secret: SECRET })), jwt)).toBe('UNAUTHENTICATED');
  });

  it('refuses a read token even when JWT_SECRET is the read-token secret', async () => {
    const readTokens = createReadTokens({ sql: undefined as never, secret: SECRET, ttlS: 60, log: silentLogger });
    const principal = { kind: 'jwt' as const, id: 'user-1', tenant: 'acme', scopes: ['tasks:read'] };
    const { token: readToken } = await readTokens.issue(principal, ['0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b']);
    expect(await refusal(createJwtVerifier(config({ secret: SECRET })), readToken)).toBe('UNAUTHENTICATED');
    // The same claims under an ordinary header are refused by the claim.
    const retyped = await token(hs256(SECRET), { typ: 'taskwire-read', tasks: ['0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'] });
    expect(await refusal(createJwtVerifier(config({ secret: SECRET })), retyped)).toBe('UNAUTHENTICATED');
  });

  it('logs why at debug, never the token', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const verify = createJwtVerifier(config({ jwksUrl, secret: SECRET }), { log });
    const expired = await token(rsa, { exp: inSeconds(-10) });
    await refusal(verify, expired);
    expect(lines.join('\n')).toMatch(/ERR_JWT_EXPIRED/);
    expect(lines.join('\n')).not.toContain(expired.split('.')[2]);
  });

  it('logs the principal id (sub) of a refused token whose signature held, and not of one whose signature did not', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const verify = createJwtVerifier(config({ jwksUrl, secret: SECRET }), { log });
    await refusal(verify, await token(rsa, { sub: 'svc-expired', exp: inSeconds(-10) }));
    await refusal(verify, await token(hs256(SECRET), { sub: 'svc-no-tenant', tenant: null }));
    await refusal(verify, await token(hs256('another secret, 32 bytes or more!!'), { sub: 'svc-forged' }));
    expect(lines.filter((l) => l.msg === 'JWT refused').map((l) => [l.reason, l.sub])).toEqual([
      ['ERR_JWT_EXPIRED', 'svc-expired'],
      ['the tenant claim "tenant"', 'svc-no-tenant'],
      ['ERR_JWS_SIGNATURE_VERIFICATION_FAILED', undefined],
    ]);
  });

  it('refuses to be made without a key, with both a JWKS URL and file, or with a file that is not a JWKS', async () => {
    const codes = [config(), config({ jwksUrl, jwksFile }), config({ jwksFile: path.join(dir, 'missing.json') })].map((c) => {
      try {
        createJwtVerifier(c);
        return 'made';
      } catch (error) {
        return (error as AppError).code;
      }
    });
    expect(codes).toEqual(['CONFIG_INVALID', 'CONFIG_INVALID', 'CONFIG_INVALID']);
  });
});

/** A token by `s` of exactly `claims`: undefined and null ones left out (no default exp). */
async function exactly(s: Signer, claims: Record<string, unknown>): Promise<string> {
  const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined && v !== null));
  return new SignJWT(payload).setProtectedHeader({ alg: s.alg, kid: s.kid }).sign(s.privateKey);
}
