import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadClientConfig } from '../src/client-config.js';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

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

describe('loadConfig', () => {
  it('fills documented defaults from an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      host: '127.0.0.1',
      port: 4000,
      dbPoolSize: 10,
      dbIdleTimeoutMs: 60_000,
      dbLockTimeoutMs: 10_000,
      worker: { concurrency: 10, prefetchMs: 10, claimsInFlight: 1, queues: [], pollIntervalMs: 1000, leaseMs: 30_000, heartbeatMs: 10_000, shutdownGraceMs: 30_000 },
      resultTtlMs: 86_400_000,
      taskModules: [],
      runWorker: true,
      logLevel: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.worker)).toBe(true);
  });

  it('reads values, treats empty strings as unset, and splits lists', () => {
    const config = loadConfig({
      PORT: '8080',
      WORKER_CONCURRENCY: '3',
      WORKER_QUEUES: ' a, b ,,c ',
      RUN_WORKER: 'no',
      HOST: '',
      DATABASE_URL: 'postgres://u:p@db.example:5432/app',
    });
    expect(loadConfig({ DATABASE_URL: 'postgresql://localhost/app' }).databaseUrl).toBe('postgresql://localhost/app');
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', runWorker: false, databaseUrl: 'postgres://u:p@db.example:5432/app' });
    expect(config.worker).toMatchObject({ concurrency: 3, queues: ['a', 'b', 'c'] });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['PORT', ' '],
    ['PORT', '0x50'],
    ['PORT', '1e3'],
    ['WORKER_CONCURRENCY', '0'],
    ['LEASE_MS', '-5'],
    ['DB_POOL_SIZE', 'ten'],
    ['DB_IDLE_TIMEOUT_MS', '-1'],
    ['DB_LOCK_TIMEOUT_MS', '-1'],
    ['RUN_WORKER', 'maybe'],
    ['GRAPHIQL', 'on'],
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'postgress://u@localhost/db'],
    ['HOST', 'two words'],
    ['HOST', 'http://example.com'],
    ['HOST', '[not an address]'],
    // Past 1,000 years an expiry stops being a time a Date holds (src/queue/enqueue.ts MAX_RESULT_TTL_MS).
    ['RESULT_TTL_MS', '9007199254740991'],
  ])('rejects %s=%j with a ConfigError naming the variable', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe(name);
    expect(error.message).toContain(`${name}=`);
  });

  it('takes every pino level as LOG_LEVEL: an app that embeds the core often runs at trace or fatal', () => {
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const) expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it('takes HOST as an address, a name, or an IPv6 address in brackets as in a URL', () => {
    expect(loadConfig({ HOST: '[::1]' }).host).toBe('::1');
    expect(loadConfig({ HOST: ' ::1 ' }).host).toBe('::1');
    expect(loadConfig({ HOST: 'localhost' }).host).toBe('localhost');
    expect(loadConfig({ HOST: 'worker-3.internal', AUTH_MODE: 'on', JWT_SECRET: 'x'.repeat(32) }).host).toBe('worker-3.internal');
  });

  it('names every bad variable at once', () => {
    const error = configError({ PORT: 'abc', WORKER_CONCURRENCY: 'x' });
    expect(error.message).toContain('PORT=');
    expect(error.message).toContain('WORKER_CONCURRENCY=');
  });

  it.each(['0', '999'])('rejects SCHEDULE_MISFIRE_GRACE_MS=%s: under a second, every occurrence would read as missed', (grace) => {
    expect(configError({ SCHEDULE_MISFIRE_GRACE_MS: grace })).toMatchObject({ code: 'CONFIG_INVALID', field: 'SCHEDULE_MISFIRE_GRACE_MS' });
    expect(loadConfig({ SCHEDULE_MISFIRE_GRACE_MS: '1000' }).scheduler.misfireGraceMs).toBe(1000);
  });

  it.each([
    ['5000', '5000'],
    ['6000', '5000'],
  ])('rejects HEARTBEAT_MS=%s with LEASE_MS=%s: a heartbeat must come before the lease runs out', (heartbeat, lease) => {
    const error = configError({ HEARTBEAT_MS: heartbeat, LEASE_MS: lease });
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'HEARTBEAT_MS' });
  });

  it.each([
    [{}, true],
    [{ NODE_ENV: 'development' }, true],
    [{ NODE_ENV: 'production' }, false],
    [{ NODE_ENV: 'production', GRAPHIQL: 'true' }, true],
    [{ NODE_ENV: 'production', GRAPHIQL: '' }, false],
    [{ GRAPHIQL: 'false' }, false],
  ])('serves GraphiQL with %j: %s (off in production unless GRAPHIQL asks for it)', (env, graphiql) => {
    expect(loadConfig(env).graphiql).toBe(graphiql);
  });

  it('rejects DATABASE_LISTEN_URL without DATABASE_URL: it goes beside a pooled URL, never beside the embedded database', () => {
    expect(configError({ DATABASE_LISTEN_URL: 'postgres://u@db:5432/app' })).toMatchObject({ code: 'CONFIG_INVALID', field: 'DATABASE_LISTEN_URL' });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@pgbouncer:6432/app', DATABASE_LISTEN_URL: 'postgres://u@db:5432/app' }).databaseListenUrl).toBe('postgres://u@db:5432/app');
  });

  it('takes TRUSTED_PROXIES as addresses and CIDR ranges, and names it for anything else', () => {
    expect(loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1,::1, fd00::/8' }).auth.trustedProxies).toEqual(['10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8']);
    expect(loadConfig({}).auth.trustedProxies).toEqual([]);
    for (const bad of ['proxy.internal', '10.0.0.0/33', '10.0.0.1/8/8', '::1/129', '10.0.0.0/x']) {
      expect(configError({ TRUSTED_PROXIES: bad })).toMatchObject({ code: 'CONFIG_INVALID', field: 'TRUSTED_PROXIES' });
    }
    expect(loadConfig({}).auth.trustedProxyHeader).toBe('x-forwarded-for');
    expect(loadConfig({ TRUSTED_PROXY_HEADER: 'forwarded' }).auth.trustedProxyHeader).toBe('forwarded');
    expect(configError({ TRUSTED_PROXY_HEADER: 'x-real-ip' })).toMatchObject({ code: 'CONFIG_INVALID', field: 'TRUSTED_PROXY_HEADER' });
  });

  it.each([
    ['METRICS_TOKEN', 's3cret', 'METRICS_TOKEN (6 characters, not shown): must be at least 16 characters'],
    ['JWT_SECRET', 'short-jwt-secret', 'JWT_SECRET (16 characters, not shown): must be at least 32 characters'],
    ['READ_TOKEN_SECRET', 'short-read-secret', 'READ_TOKEN_SECRET (17 characters, not shown): must be at least 32 characters'],
  ])('never prints the value of the secret %s, only its length', (name, value, line) => {
    const error = configError({ [name]: value });
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: name });
    expect(error.message).toContain(line);
    expect(error.message).not.toContain(value);
  });

  it.each([
    ['DATABASE_URL', 'mysql://app:hunter2@db.internal/app', 'DATABASE_URL="mysql://app:***@db.internal/app"'],
    ['DATABASE_URL', 'mysql://app:hun@ter2@db.internal/app', 'DATABASE_URL="mysql://app:***@db.internal/app"'],
    ['DATABASE_URL', 'mysql://db.internal/app?sslmode=require&password=hunter2', 'DATABASE_URL="mysql://db.internal/app?sslmode=require&password=***"'],
    ['DATABASE_URL', 'app:hunter2@db.internal/app', 'DATABASE_URL (not shown: it may hold a password)'],
    ['DATABASE_LISTEN_URL', 'http://app:hunter2@db.internal:5432/app', 'DATABASE_LISTEN_URL="http://app:***@db.internal:5432/app"'],
    ['JWT_JWKS_URL', 'https//idp:hunter2@idp.example/jwks', 'JWT_JWKS_URL (not shown: it may hold a password)'],
  ])('masks the password of %s=%j in its error', (name, value, shown) => {
    const env = name === 'DATABASE_LISTEN_URL' ? { DATABASE_URL: 'postgres://u@pgbouncer:6432/app', [name]: value } : { [name]: value };
    const error = configError(env);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: name });
    expect(error.message).toContain(shown);
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('ter2');
  });

  it('masks the password of TASKWIRE_URL in its error', () => {
    let message = '';
    try {
      loadClientConfig({ TASKWIRE_URL: 'ftp://me:hunter2@taskwire.internal/graphql' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('TASKWIRE_URL="ftp://me:***@taskwire.internal/graphql": must be an http:// or https:// URL');
    expect(message).not.toContain('hunter2');
  });

  it('says a TASKWIRE_URL that does not parse is not a URL, naming what usually is wrong (a port past 65535)', () => {
    expect(() => loadClientConfig({ TASKWIRE_URL: 'http://127.0.0.1:99999/graphql' })).toThrow(
      'TASKWIRE_URL="http://127.0.0.1:99999/graphql": is not a URL (its port must be 0 to 65535, its host a name or address)',
    );
  });

  it('accepts a heartbeat under the lease', () => {
    expect(loadConfig({ HEARTBEAT_MS: '999', LEASE_MS: '1000' }).worker).toMatchObject({ heartbeatMs: 999, leaseMs: 1000 });
  });
});

/** `taskwire <args>` with only `env` (and PATH, HOME) set: its exit code and output. */
async function runTaskwire(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/taskwire.js', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

describe('taskwire CLI', () => {
  it('exits with code 2 and names PORT on stderr when PORT=abc', async () => {
    const { code, stdout, stderr } = await runTaskwire(['worker'], { PORT: 'abc' });
    expect(code).toBe(2);
    expect(stderr).toContain('PORT');
    expect(stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(stdout).toBe('');
  });

  // postgres.js threw `URI malformed` from decodeURIComponent: "unexpected error", exit 1, nothing named.
  it.each(['serve', 'migrate', 'doctor'])('exits %s with code 2 naming DATABASE_URL, not its password, when its password has a bad percent-escape', async (command) => {
    const { code, stderr } = await runTaskwire([command], { DATABASE_URL: 'postgres://app:sek%ZZretpw@127.0.0.1:5999/app' });
    expect(code).toBe(2);
    expect(stderr).toContain('DATABASE_URL="postgres://app:***@127.0.0.1:5999/app": its password has a % that is not a percent-escape');
    expect(stderr).not.toContain('URI malformed');
    expect(stderr).not.toContain('retpw');
  });

  it('exits with code 2 naming the limit when a timer duration is past what Node.js keeps', async () => {
    const { code, stderr } = await runTaskwire(['worker'], { SHUTDOWN_GRACE_MS: '3000000000' });
    expect(code).toBe(2);
    expect(stderr).toContain('SHUTDOWN_GRACE_MS="3000000000": must be at most 2147483647');
  });
});
