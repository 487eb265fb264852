import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

/** The ConfigError `loadConfig(env)` throws; fails the test when it throws nothing. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** A heartbeat under the lease whatever LEASE_MS a case sets. */
const withLease = (env: Record<string, string>): Record<string, string> => ({ HEARTBEAT_MS: '100', ...env });

describe('loadConfig: durations that reach a timer', () => {
  // Node.js runs a timer longer than 2^31 − 1 ms after 1 ms: an idle worker polled ~700 times a second.
  it.each([
    ['WORKER_POLL_INTERVAL_MS', 2_147_483_647],
    ['LEASE_MS', 2_147_483_647],
    ['HEARTBEAT_MS', 2_147_483_647],
    ['SHUTDOWN_GRACE_MS', 2_147_483_647],
    ['SCHEDULER_POLL_INTERVAL_MS', 2_147_483_647],
    ['DB_IDLE_TIMEOUT_MS', 2_147_483_647],
    // The cleaner runs every 4× it, each round up to 1.2× late (jitter): 4.8× must stay a timer Node keeps.
    ['MAINTENANCE_INTERVAL_MS', 447_392_426],
  ])('refuses %s above %i, naming the variable and the limit', (name, max) => {
    const env: Record<string, string> = name === 'HEARTBEAT_MS' ? { LEASE_MS: '2147483647' } : {};
    for (const value of [String(max + 1), '3000000000', '9007199254740991']) {
      const error = configError(withLease({ ...env, [name]: value }));
      expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: name });
      expect(error.message).toContain(`${name}="${value}": must be at most ${max}`);
    }
  });

  it('takes each at its limit', () => {
    const config = loadConfig({
      WORKER_POLL_INTERVAL_MS: '2147483647',
      LEASE_MS: '2147483647',
      HEARTBEAT_MS: '2147483646',
      SHUTDOWN_GRACE_MS: '2147483647',
      SCHEDULER_POLL_INTERVAL_MS: '2147483647',
      MAINTENANCE_INTERVAL_MS: '447392426',
      DB_IDLE_TIMEOUT_MS: '2147483647',
    });
    expect(config.dbIdleTimeoutMs).toBe(2_147_483_647);
    expect(config.worker).toMatchObject({ pollIntervalMs: 2_147_483_647, leaseMs: 2_147_483_647, heartbeatMs: 2_147_483_646, shutdownGraceMs: 2_147_483_647 });
    expect(config.scheduler.pollIntervalMs).toBe(2_147_483_647);
    expect(config.maintenanceIntervalMs * 4 * 1.2).toBeLessThanOrEqual(2_147_483_647);
  });

  it('keeps RESULT_TTL_MS, which is no timer, at its own limit of 1,000 years', () => {
    expect(loadConfig({ RESULT_TTL_MS: '31557600000000' }).resultTtlMs).toBe(31_557_600_000_000);
  });
});

describe('loadConfig: PostgreSQL URLs postgres.js can read', () => {
  // postgres.js decodes the user, password and host with decodeURIComponent: `URI malformed`, exit 1, named nothing.
  it.each([
    ['DATABASE_URL', 'postgres://app:sek%ZZretpw@127.0.0.1:5999/app', 'password'],
    ['DATABASE_URL', 'postgres://app:sekretpw%@127.0.0.1:5999/app', 'password'],
    ['DATABASE_URL', 'postgres://app:sek%FFretpw@127.0.0.1:5999/app', 'password'],
    ['DATABASE_URL', 'postgres://a%zzpp:sekretpw@127.0.0.1:5999/app', 'user name'],
    ['DATABASE_URL', 'postgresql://app:sekretpw@127.0.0.1:5999/a%pp', 'path'],
    ['DATABASE_URL', 'postgres://app:sekretpw@db%ZZ:5999/app', 'host'],
    ['DATABASE_LISTEN_URL', 'postgres://app:sek%ZZretpw@127.0.0.1:5999/app', 'password'],
  ])('refuses %s=%j, an invalid percent-escape in its %s, without showing the password', (name, value, part) => {
    const env = name === 'DATABASE_LISTEN_URL' ? { DATABASE_URL: 'postgres://u@pgbouncer:6432/app', [name]: value } : { [name]: value };
    const error = configError(env);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: name });
    expect(error.message).toContain(`${name}="`);
    expect(error.message).toContain(`its ${part} has a % that is not a percent-escape`);
    expect(error.message).not.toContain('sek');
    expect(error.message).not.toContain('retpw');
  });

  it('takes valid escapes, a raw @ in the password and anything in the query', () => {
    for (const url of [
      'postgres://app:p%40ss%25w%C3%B6rd@db:5432/app',
      'postgres://app:p@ss@db:5432/app',
      'postgres://app@db:5432/app?options=%ZZ',
      'postgres://app:pw@db:5432/my%20db',
    ]) {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    }
  });
});

describe('loadConfig: JWT_JWKS_URL', () => {
  it.each([
    ['https://user:hunter2secret@idp.example/jwks', 'must not hold a user or password'],
    ['https://user@idp.example/jwks', 'must not hold a user or password'],
    ['ftp://idp.example/jwks', 'must be an http:// or https:// URL'],
    ['file:///etc/jwks.json', 'must be an http:// or https:// URL'],
  ])('refuses %j: fetch can never get it', (value, why) => {
    const error = configError({ JWT_JWKS_URL: value });
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'JWT_JWKS_URL' });
    expect(error.message).toContain(why);
    expect(error.message).not.toContain('hunter2');
  });

  it('takes an http(s) URL', () => {
    expect(loadConfig({ JWT_JWKS_URL: 'https://idp.example/.well-known/jwks.json' }).auth.jwt.jwksUrl).toBe('https://idp.example/.well-known/jwks.json');
    expect(loadConfig({ JWT_JWKS_URL: 'http://127.0.0.1:8080/jwks' }).auth.jwt.jwksUrl).toBe('http://127.0.0.1:8080/jwks');
  });
});

describe('loadConfig: CORS_ORIGINS', () => {
  // Dropped before: the page got 403 and nothing said why.
  it.each(['app.example.com', 'localhost:3000', 'not-an-origin', '*', 'null', 'ftp://app.example.com', 'https://app.example.com/app', 'https://app.example.com?x=1'])(
    'refuses %j, naming the variable and the entry',
    (entry) => {
      const error = configError({ CORS_ORIGINS: `https://ok.example, ${entry}` });
      expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'CORS_ORIGINS' });
      expect(error.message).toContain(`not an origin: ${JSON.stringify(entry)}`);
      expect(error.message).not.toContain('"https://ok.example" ');
    },
  );

  it('says that "*" is not taken', () => {
    expect(configError({ CORS_ORIGINS: '*' }).message).toContain('"*" is not taken');
  });

  it('takes origins as browsers send them, and as people write them', () => {
    const origins = 'https://app.example.com, http://localhost:3000, https://app.example.com/, HTTPS://Other.Example:8443, http://[::1]:5173';
    expect(loadConfig({ CORS_ORIGINS: origins }).auth.corsOrigins).toHaveLength(5);
    expect(loadConfig({}).auth.corsOrigins).toEqual([]);
  });
});
