import { describe, expect, it } from 'vitest';
import { explainConnectionError, explainNotifyFailure } from '../../src/db/doctor.js';

// What doctor says of a database that cannot write (a full disk), whose errors name no disk in
// their messages: an on-call tester's doctor blamed DATABASE_URL and LISTEN instead.
const pg = (code: string, message: string, detail?: string): Error => Object.assign(new Error(message), { code, ...(detail ? { detail } : {}) });
const target = { url: 'postgres://app@db.example:5432/app', source: 'DATABASE_URL' };

describe('doctor on a full disk', () => {
  it('names the disk for a connection refused with 53100 or a relation cache it cannot write (XX000)', () => {
    expect(explainConnectionError(pg('53100', 'could not extend file "base/1/2": No space left on device'), target)).toMatch(/cannot write: its disk is full/);
    expect(explainConnectionError(pg('XX000', 'could not write init file'), target)).toMatch(/is its disk full\? Free space/);
    // Another internal error is not a disk.
    expect(explainConnectionError(pg('XX000', 'cache lookup failed'), target)).toBe('db.example:5432/app: XX000: cache lookup failed (check DATABASE_URL)');
  });

  it('gives a database name that is not one shell word quoted in the createdb it suggests', () => {
    expect(explainConnectionError(pg('3D000', 'no such database'), target)).toMatch(/\(createdb app\)/);
    expect(explainConnectionError(pg('3D000', 'no such database'), { ...target, url: "postgres://app@db.example:5432/no%20such's" })).toMatch(/\(createdb 'no such'\\''s'\)/);
  });

  it('names the disk for a NOTIFY refused for it, whatever its message says', () => {
    expect(explainNotifyFailure(pg('53100', 'could not access status of transaction 0', 'No space left on device'))).toMatch(/^NOTIFY failed: the database cannot write, its disk is full/);
    expect(explainNotifyFailure(pg('58030', 'could not access status of transaction 0', 'Could not write to file "pg_notify/0000": No space left on device.'))).toMatch(/its disk is full/);
    expect(explainNotifyFailure(pg('42501', 'permission denied'))).toBe('NOTIFY failed: permission denied');
  });
});

// A chaos tester killed the backends of two `taskwire migrate` runs: one exited 1 with "unexpected error:
// terminating connection due to administrator command", as a process starting during a restart would.
describe('a database that ends the connection while a process starts', () => {
  it('is said as such, for the doctor and for a start (exit 2, not an unexpected error)', async () => {
    const { databaseFailure } = await import('../../src/cli/process.js');
    const { loadConfig } = await import('../../src/config.js');
    const { ConfigError } = await import('../../src/errors.js');
    const terminated = pg('57P01', 'terminating connection due to administrator command');
    const closed = pg('CONNECTION_CLOSED', 'write CONNECTION_CLOSED db.example:5432');
    expect(explainConnectionError(terminated, target)).toMatch(/is shutting down, restarting or not yet accepting connections \(57P01/);
    expect(explainConnectionError(closed, target)).toMatch(/closed the connection \(CONNECTION_CLOSED\): is it restarting or failing over\?/);
    for (const config of [loadConfig({ DATABASE_URL: target.url }), loadConfig({})]) {
      for (const error of [terminated, closed]) {
        const failure = databaseFailure(error, config);
        expect(failure).toBeInstanceOf(ConfigError);
        expect(failure?.message).toMatch(/^the database ended the connection while this process was starting \((57P01|CONNECTION_CLOSED)/);
      }
    }
    // Anything else is still the caller's to report.
    expect(databaseFailure(pg('42P01', 'relation "x" does not exist'), loadConfig({ DATABASE_URL: target.url }))).toBeUndefined();
  });
});
