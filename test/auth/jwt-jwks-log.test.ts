import { generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createJwtVerifier, type JwtConfig } from '../../src/auth/jwt.js';
import { UnauthenticatedError } from '../../src/errors.js';

const config = (jwksUrl: string): JwtConfig => ({
  secret: undefined,
  jwksUrl,
  jwksFile: undefined,
  issuer: undefined,
  audience: undefined,
  tenantClaim: 'tenant',
  scopeClaim: 'scope',
});

describe('createJwtVerifier', () => {
  // loadConfig refuses such a URL; this is the line a verifier made without it (or a future fetch error quoting it) writes.
  it('logs a JWKS it cannot fetch without the password of its URL', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const verify = createJwtVerifier(config('https://user:hunter2secret@127.0.0.1:1/jwks?password=hunter3secret'), { log });
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({ sub: 'svc', tenant: 'acme' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('1h').sign(privateKey);
    await expect(verify(token)).rejects.toBeInstanceOf(UnauthenticatedError);
    const warned = lines.map((line) => JSON.parse(line) as { msg: string; err?: { message?: string } }).find((l) => l.msg === 'JWT not checked: the JWKS is unavailable');
    expect(warned?.err?.message).toContain('https://user:***@127.0.0.1:1/jwks?password=***');
    expect(lines.join('\n')).not.toContain('hunter2secret');
    expect(lines.join('\n')).not.toContain('hunter3secret');
  });
});
