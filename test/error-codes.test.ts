import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { CLIENT_ONLY_ERROR_CODES, type ServerErrorCode } from '../src/client/errors.js';
import { ERROR_CODES, isErrorCode, type ErrorCode } from '../src/error-codes.js';
import * as serverErrors from '../src/errors.js';
import { AppError, type LocalErrorCode } from '../src/errors.js';
import { GRAPHQL_CODES } from '../src/graphql/errors.js';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return entry === 'generated' ? [] : sourceFiles(full);
    return full.endsWith('.ts') ? [full] : [];
  });
}

// WAIT_TIMEOUT: queue.waitFor's, in the caller's process (TaskWaitTimeoutError, src/queue/wait-for-task.ts); never sent to a client.
const LOCAL_CODES: readonly LocalErrorCode[] = ['CONFIG_INVALID', 'WAIT_TIMEOUT'];
const known = (code: string): boolean => isErrorCode(code) || (LOCAL_CODES as readonly string[]).includes(code);

/** The codes of docs/graphql.md's error table (the `## Errors` section). */
function documentedCodes(): string[] {
  const doc = readFileSync('docs/graphql.md', 'utf8');
  const section = doc.slice(doc.indexOf('\n## Errors\n'), doc.indexOf('\n## ', doc.indexOf('\n## Errors\n') + 1));
  return [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1] ?? '');
}

describe('ERROR_CODES', () => {
  it('has no duplicates, and isErrorCode knows exactly its codes', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) expect(isErrorCode(code)).toBe(true);
    expect(isErrorCode('CONFIG_INVALID')).toBe(false);
    expect(isErrorCode('not_found')).toBe(false);
    expect(isErrorCode(undefined)).toBe(false);
  });

  it('is what docs/graphql.md lists in its error table', () => {
    const documented = documentedCodes();
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...ERROR_CODES].sort());
  });

  it('holds the codes of every AppError class the server exports, except the local ones', () => {
    const classes = Object.values(serverErrors as Record<string, unknown>).filter(
      (value): value is new (...args: string[]) => AppError => typeof value === 'function' && value.prototype instanceof AppError,
    );
    expect(classes.length).toBeGreaterThanOrEqual(6);
    const codes = classes.map((Class) => new Class('x', 'y').code);
    expect(codes.filter((code) => !isErrorCode(code)).sort()).toEqual([...LOCAL_CODES].sort());
    expect(Object.values(GRAPHQL_CODES).filter((code) => !isErrorCode(code))).toEqual([]);
  });

  it('holds every code written into an error by the server sources', () => {
    const written = sourceFiles('src')
      .filter((file) => !file.startsWith(path.join('src', 'client')))
      .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\bcode: '([A-Z_]+)'|new AppError\('([A-Z_]+)'|super\('([A-Z_]+)'/g)])
      .map((m) => m[1] ?? m[2] ?? m[3] ?? '');
    expect(written.length).toBeGreaterThan(0);
    expect(written.filter((code) => !known(code))).toEqual([]);
  });
});

describe('the client', () => {
  it('recognizes the server codes from the shared list, and its own codes are none of them', () => {
    expectTypeOf<ServerErrorCode>().toEqualTypeOf<ErrorCode>();
    expect(CLIENT_ONLY_ERROR_CODES.filter((code) => isErrorCode(code))).toEqual([]);
  });

  it('raises only codes of the shared list or its own', () => {
    const clientCodes: readonly string[] = [...ERROR_CODES, ...CLIENT_ONLY_ERROR_CODES];
    const raised = sourceFiles(path.join('src', 'client'))
      .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/(?:Error|super)\(\s*'([A-Z_]+)'|: '([A-Z_]+)';$/gm)])
      .map((m) => m[1] ?? m[2] ?? '');
    expect(raised.length).toBeGreaterThanOrEqual(5);
    expect(raised.filter((code) => !clientCodes.includes(code))).toEqual([]);
  });

  it('imports nothing of the server but dependency-free modules such as src/error-codes.ts', () => {
    const shared = sourceFiles(path.join('src', 'client')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/from '(\.\.\/[^']+)'/g)].map((m) => path.join(path.dirname(file), (m[1] ?? '').replace(/\.js$/, '.ts'))),
    );
    expect(shared).toContain(path.join('src', 'error-codes.ts'));
    // A module the client shares with the server imports nothing at all (else it would pull server code in).
    const importing = [...new Set(shared)].filter((file) => /^\s*(import|export .* from)\b/m.test(readFileSync(file, 'utf8')));
    expect(importing).toEqual([]);
  });
});

describe('the package API', () => {
  it('exports every error class of src/errors.ts a program catches (those of authentication internals aside)', async () => {
    const api: Record<string, unknown> = await import('../src/index.js');
    // Kinds that refine an exported one (caught as it), or that only the server's authentication raises.
    const internal = new Set(['LockTimeoutError', 'CredentialExpiredError', 'CredentialNotAGuessError']);
    const classes = Object.entries(serverErrors).filter(([name, value]) => typeof value === 'function' && /^[A-Z]\w*Error$/.test(name) && !internal.has(name));
    expect(classes.length).toBeGreaterThan(10);
    for (const [name, value] of classes) expect(api[name], `${name} exported from 'taskwire'`).toBe(value);
    expect(api.isDatabaseUnavailable).toBe(serverErrors.isDatabaseUnavailable);
  });
});

describe('isDatabaseUnavailable', () => {
  const pg = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });
  it('takes a database that cannot take the statement now for an outage: connections, restarts, a full disk, memory, locks', () => {
    for (const code of ['ECONNREFUSED', 'CONNECTION_CLOSED', '08006', '57P01', '57P03', '53000', '53100', '53200', '53300', '55P03']) {
      expect(serverErrors.isDatabaseUnavailable(pg(code)), code).toBe(true);
    }
    // A full disk that says so only in its message: a new connection's relation cache, a file that cannot grow.
    expect(serverErrors.isDatabaseUnavailable(pg('XX000', 'could not write init file'))).toBe(true);
    expect(serverErrors.isDatabaseUnavailable(pg('58030', 'could not write to file "pg_wal/xlogtemp.123": No space left on device'))).toBe(true);
    // Wrapped, as the worker's and the client's errors carry it.
    expect(serverErrors.isDatabaseUnavailable(new Error('outer', { cause: pg('53100') }))).toBe(true);
  });
  it("leaves the statement's own errors to the statement", () => {
    for (const [code, message] of [['23505', 'duplicate key'], ['XX000', 'cache lookup failed'], ['58030', 'could not open file'], ['53400', 'too many range table entries'], ['42P01', 'no such relation']]) {
      expect(serverErrors.isDatabaseUnavailable(pg(code!, message)), code).toBe(false);
    }
  });
  it('takes a Unix socket that is gone or forbidden at connect for an outage, and the same codes elsewhere for what they are', () => {
    const sys = (code: string, syscall: string): Error => Object.assign(new Error(`${syscall} ${code}`), { code, syscall });
    expect(serverErrors.isDatabaseUnavailable(sys('ENOENT', 'connect'))).toBe(true);
    expect(serverErrors.isDatabaseUnavailable(sys('EACCES', 'connect'))).toBe(true);
    expect(serverErrors.isDatabaseUnavailable(sys('ENOENT', 'open'))).toBe(false);
    expect(serverErrors.isDatabaseUnavailable(sys('EACCES', 'open'))).toBe(false);
  });
  it('takes a TLS connection refused by its certificates for an outage (a certificate expired or replaced while running)', () => {
    for (const code of ['CERT_HAS_EXPIRED', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_REVOKED', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA']) {
      expect(serverErrors.isDatabaseUnavailable(pg(code)), code).toBe(true);
    }
    expect(serverErrors.isDatabaseUnavailable(pg('ERR_TLS_INVALID_PROTOCOL_METHOD'))).toBe(false);
  });
});
