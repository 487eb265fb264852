import { isIP } from 'node:net';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { describeValue } from './masking.js';
import { readPostgresUrl } from './postgres-url.js';

/** LOG_LEVEL's values: pino's levels (src/logger.ts createLogger takes any of them). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A whole number written in decimal. Not z.coerce.number(): it reads ' ' as 0 (PORT=' '
 * would quietly pick a random port), '0x50' as 80 and '1e3' as 1000.
 */
const int = (min: number, max = Number.MAX_SAFE_INTEGER, tooBig?: string) =>
  z
    .string()
    .trim()
    .regex(/^[+-]?\d+$/, 'must be a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max, tooBig));

/**
 * The longest delay setTimeout and setInterval keep: 2^31 − 1 ms (~24.8 days). Node.js runs a
 * longer one after 1 ms, with only a warning: WORKER_POLL_INTERVAL_MS=3000000000 polled ~700 times
 * a second, and SHUTDOWN_GRACE_MS=3000000000 gave no grace at all.
 */
const MAX_TIMER_MS = 2_147_483_647;
/**
 * A duration in ms that reaches a timer, times `factor` at most (what a caller multiplies it by):
 * a bigger value stops the start, naming the variable and the limit, rather than become a 1 ms timer.
 */
const timerMs = (min: number, factor = 1, why = 'the longest timer Node.js keeps, ~24.8 days') => {
  const max = Math.floor(MAX_TIMER_MS / factor);
  return int(min, max, `must be at most ${max} (${why})`);
};

/** An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`): what TRUSTED_PROXIES takes. */
export function isAddressOrRange(entry: string): boolean {
  const [address = '', bits, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * `entry` as the origin a browser sends (`scheme://host[:port]`: lower case, no default port), or
 * undefined when it is not one: an http(s) URL with nothing after the host but an optional `/`.
 * What CORS_ORIGINS takes, each entry (src/server/origins.ts grants the origin an entry names, and
 * refuses to start on one that names none: the server may not import this module).
 */
export function originOf(entry: string): string | undefined {
  if (!URL.canParse(entry)) return undefined;
  const url = new URL(entry);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return undefined;
  return url.origin;
}

/**
 * Why CORS_ORIGINS is refused: the entries that are not origins. Before, such an entry was dropped,
 * and its page got 403 with nothing saying why.
 */
function notOrigins(entries: readonly string[]): string {
  const wildcard = entries.includes('*') ? '; "*" is not taken: a grant carries credentials, so each origin is listed (docs/auth.md)' : '';
  return `not an origin: ${entries.map((e) => JSON.stringify(e)).join(', ')} (write scheme://host[:port] and nothing after it, e.g. https://app.example.com or http://localhost:3000)${wildcard}`;
}

/**
 * DATABASE_URL and DATABASE_LISTEN_URL: a postgres:// URL that postgres.js can read, in libpq's
 * forms too (a Unix socket as `?host=/dir` or a %2F-encoded host), and whose escapes decode:
 * src/postgres-url.ts.
 */
const postgresUrl = z
  .string()
  .superRefine((v, ctx) => {
    const read = readPostgresUrl(v);
    if ('problem' in read) ctx.addIssue({ code: 'custom', message: read.problem });
  });

/**
 * JWT_JWKS_URL: fetched (jose, and `taskwire doctor`) with fetch, which refuses a URL holding a user
 * or password (and quotes it whole in its error): such a URL can never work, so it is refused here.
 */
const jwksUrl = z
  .string()
  .url()
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http:// or https:// URL')
  .refine(
    (v) => !URL.canParse(v) || (new URL(v).username === '' && new URL(v).password === ''),
    'must not hold a user or password (user:password@): fetch refuses such a URL; serve the JWKS without them, or use JWT_JWKS_FILE',
  );

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

/**
 * Every environment variable taskwire reads, with its default. This is the only place
 * that knows the names; everything else receives the parsed, frozen `Config`.
 */
const envSchema = z.object({
  /** PostgreSQL URL. Unset: an embedded PostgreSQL is started with data under DATA_DIR. */
  DATABASE_URL: postgresUrl.optional(),
  /** Where the embedded PostgreSQL keeps its data. */
  DATA_DIR: z.string().min(1).default('.data'),
  /** Port of the embedded PostgreSQL; 0 picks a free one (remembered in DATA_DIR). */
  EMBEDDED_PG_PORT: int(0, 65535).default(0),
  /** HTTP host and port of the GraphQL server. */
  // `[::1]` as in a URL: the address inside the brackets is what listen() takes.
  HOST: z
    .string()
    .trim()
    .min(1)
    .transform((v) => (/^\[[^\]]+\]$/.test(v) ? v.slice(1, -1) : v))
    .refine((v) => isIP(v) !== 0 || /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(v), 'must be an IP address or a host name')
    .default('127.0.0.1'),
  PORT: int(0, 65535).default(4000),
  /**
   * Longest a starting GraphQL server spends warming up (subscribing to itself as resuming clients
   * would) before `/readyz` says ready, in ms; 0: no warm-up (docs/operations.md "Warm-up").
   */
  SERVER_WARM_UP_MS: int(0, 60_000).default(5000),
  /** Connections in the pool of each process (the LISTEN connection is extra). */
  DB_POOL_SIZE: int(1, 1000).default(10),
  /** A pooled connection idle this long is closed (the pool opens one again when needed); 0: never. postgres.js uses its connections in turn: a steady trickle of statements keeps them all. */
  DB_IDLE_TIMEOUT_MS: timerMs(0).default(60_000),
  /**
   * The longest a statement waits for a lock (PostgreSQL's lock_timeout), then fails and is answered
   * DATABASE_UNAVAILABLE (nothing done, try again); 0: for ever. Not sent through a pooler (docs/deploy.md).
   */
  DB_LOCK_TIMEOUT_MS: int(0, 2_147_483_647).default(10_000),
  /** Tasks one worker process runs at once. */
  WORKER_CONCURRENCY: int(1, 10_000).default(10),
  /** Claim ahead of free slots what the slots should start within this many ms (0: only into free slots). */
  WORKER_PREFETCH_MS: int(0, 10_000).default(10),
  /** Claim statements a worker keeps in flight while it wants 200 tasks or more (docs/decisions.md "Claims in flight"). */
  WORKER_CLAIMS_IN_FLIGHT: int(1, 4).default(1),
  /** Queues the worker claims from; empty means every queue. */
  WORKER_QUEUES: list.default([]),
  /** Fallback poll when no notification arrives, in ms. */
  WORKER_POLL_INTERVAL_MS: timerMs(10).default(1000),
  /** Lease of a running task, in ms; renewed by heartbeats. A timer too: a last progress write waits one lease at most. */
  LEASE_MS: timerMs(1000).default(30_000),
  /** Heartbeat interval, in ms; must be well under LEASE_MS. */
  HEARTBEAT_MS: timerMs(100).default(10_000),
  /** How long to wait for in-flight tasks on shutdown, in ms, before releasing them. */
  SHUTDOWN_GRACE_MS: timerMs(0).default(30_000),
  /** How long finished tasks are kept, in ms (default 1 day). Per task: `resultTtl`. */
  // At most 1,000 years, as an enqueue's resultTtlMs (src/queue/enqueue.ts MAX_RESULT_TTL_MS).
  RESULT_TTL_MS: int(0, 31_557_600_000_000).default(86_400_000),
  /** Largest stored return value, in bytes of JSON. */
  MAX_RESULT_BYTES: int(1).default(1_048_576),
  /** Most output (`ctx.output`) of one task over all its attempts, in bytes of JSON; then one truncation marker. */
  MAX_OUTPUT_BYTES: int(1, 2_147_483_647).default(10_485_760),
  /** Largest args + kwargs of one task, in bytes of JSON. */
  MAX_ARGS_BYTES: int(1).default(262_144),
  /**
   * Interval of the rescuer, in ms; the cleaner's is 4× that, and each round waits up to 1.2× its
   * interval (jitter, src/queue/maintenance/periodic.ts): at most MAX_TIMER_MS / 4.8, so that the
   * cleaner's timer too is one Node.js keeps.
   */
  MAINTENANCE_INTERVAL_MS: timerMs(100, 4.8, 'the cleaner waits up to 4.8 times it, and a timer holds at most 2147483647 ms, ~24.8 days').default(15_000),
  /**
   * Port of `/metrics` and `/healthz` for a process without the GraphQL server (`taskwire worker`);
   * unset: none (a server serves them on PORT). Bound on HOST; 0 picks a free one.
   */
  METRICS_PORT: int(0, 65535).optional(),
  /** Comma-separated modules whose exported task definitions are loaded; empty: the built-in examples. */
  TASK_MODULES: list.default([]),
  /** Run a worker inside `npm start` / `taskwire dev`. */
  RUN_WORKER: bool.default(true),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Serve GraphiQL to browsers on /graphql. Unset: on, except when NODE_ENV=production. */
  GRAPHIQL: bool.optional(),
  /** Read for one thing only: `production` turns GraphiQL off unless GRAPHIQL=true. */
  NODE_ENV: z.string().optional(),
  /**
   * A direct (unpooled) PostgreSQL URL for LISTEN/NOTIFY, when DATABASE_URL goes through a
   * transaction pooler such as PgBouncer (where LISTEN does not work). Unset: DATABASE_URL.
   */
  DATABASE_LISTEN_URL: postgresUrl.optional(),
  /** `on`: every request needs a credential (docs/auth.md). `off` is allowed only while HOST is a loopback address. */
  AUTH_MODE: z.enum(['off', 'on']).default('off'),
  /** HS256 secret for JWTs (at least 32 bytes). */
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** A JWKS for RS256/ES256 JWTs: an http(s) URL without a user or password, fetched and cached. */
  JWT_JWKS_URL: jwksUrl.optional(),
  /** A JWKS for RS256/ES256 JWTs: a file path (JSON). */
  JWT_JWKS_FILE: z.string().min(1).optional(),
  /** Required `iss` of JWTs, when set. */
  JWT_ISSUER: z.string().min(1).optional(),
  /** Required `aud` of JWTs, when set. */
  JWT_AUDIENCE: z.string().min(1).optional(),
  /** The claim naming the tenant. */
  JWT_TENANT_CLAIM: z.string().min(1).default('tenant'),
  /** The claim holding the scopes, space-separated (or a JSON array). */
  JWT_SCOPE_CLAIM: z.string().min(1).default('scope'),
  /** Lifetime of read tokens (enqueueTask's readToken; createReadToken's default), in seconds. */
  READ_TOKEN_TTL_S: int(1, 31 * 86_400).default(3600),
  /**
   * Secret that signs read tokens (at least 32 characters). Unset: one is made on first use and
   * kept in the database, so every server of a deployment shares it.
   */
  READ_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Origins (scheme://host[:port]) whose browser pages may call the API; besides the server's own, none by default. */
  CORS_ORIGINS: list.default([]).superRefine((entries, ctx) => {
    const bad = entries.filter((entry) => originOf(entry) === undefined);
    if (bad.length > 0) ctx.addIssue({ code: 'custom', message: notOrigins(bad) });
  }),
  /**
   * Addresses and CIDR ranges of reverse proxies in front of the server: a request from one is
   * counted (failed-auth throttle, logs) by the client `X-Forwarded-For` names (docs/auth.md). None by default.
   */
  TRUSTED_PROXIES: list
    .default([])
    .refine((entries) => entries.every(isAddressOrRange), 'must be IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8), comma-separated'),
  /**
   * The header the trusted proxies append the client to: `x-forwarded-for` (nginx, most load
   * balancers) or `forwarded` (RFC 7239 `for=`, e.g. Envoy, HAProxy's option forwarded). Only that
   * one is read: the other is whatever the client sent.
   */
  TRUSTED_PROXY_HEADER: z.enum(['x-forwarded-for', 'forwarded']).default('x-forwarded-for'),
  /** Bearer token that `/metrics` requires; unset: `/metrics` is open (with auth on: closed, see docs/auth.md). */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Enqueues per second one principal may make (a burst of twice that); 0: no limit. */
  ENQUEUE_RATE_PER_S: int(0).default(1000),
  /** Subscriptions one principal may hold open at once, per server process, and graphql-ws sockets as many; 0: no limit. */
  MAX_SUBSCRIPTIONS_PER_PRINCIPAL: int(0).default(1000),
  /** Run the scheduler (cron schedules, docs/schedules.md) in this process; any number of processes may run it. */
  SCHEDULER_ENABLED: bool.default(true),
  /** Most occurrences one schedule fires at once: `missed: RUN_ALL`'s bound after downtime, and a late schedule's per round. */
  SCHEDULE_CATCH_UP_MAX: int(1, 100_000).default(100),
  /** The scheduler's longest sleep when no NOTIFY comes (it otherwise sleeps until the earliest next run), in ms. */
  SCHEDULER_POLL_INTERVAL_MS: timerMs(10).default(5000),
  /**
   * Lateness under which a schedule's occurrences still fire as usual rather than count as missed, in ms.
   * At least a second: a scheduler reads the clock a few ms after an occurrence is due, so a grace of 0
   * made every occurrence "missed" (a `missed: SKIP` schedule never fired, a tester's find).
   */
  SCHEDULE_MISFIRE_GRACE_MS: int(1000).default(60_000),
});

export interface Config {
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly embeddedPgPort: number;
  readonly host: string;
  readonly port: number;
  /** SERVER_WARM_UP_MS: the longest warm-up of a starting GraphQL server, in ms; 0: none. */
  readonly serverWarmUpMs: number;
  readonly dbPoolSize: number;
  readonly dbIdleTimeoutMs: number;
  readonly dbLockTimeoutMs: number;
  readonly worker: {
    readonly concurrency: number;
    readonly prefetchMs: number;
    readonly claimsInFlight: number;
    readonly queues: readonly string[];
    readonly pollIntervalMs: number;
    readonly leaseMs: number;
    readonly heartbeatMs: number;
    readonly shutdownGraceMs: number;
  };
  readonly resultTtlMs: number;
  readonly maxResultBytes: number;
  readonly maxOutputBytes: number;
  /** Port of a worker process's own `/metrics` and `/healthz`; undefined: none. */
  readonly metricsPort: number | undefined;
  readonly maxArgsBytes: number;
  readonly maintenanceIntervalMs: number;
  readonly taskModules: readonly string[];
  readonly runWorker: boolean;
  readonly logLevel: LogLevel;
  /** Whether a browser gets GraphiQL on /graphql (GRAPHIQL; default: true unless NODE_ENV=production). */
  readonly graphiql: boolean;
  /** Direct URL for LISTEN/NOTIFY (DATABASE_LISTEN_URL); undefined: the same as databaseUrl. */
  readonly databaseListenUrl: string | undefined;
  readonly auth: AuthConfig;
  /** The cron scheduler (src/queue/schedules/scheduler.ts). */
  readonly scheduler: {
    readonly enabled: boolean;
    readonly catchUpMax: number;
    /** ms */
    readonly pollIntervalMs: number;
    /** ms */
    readonly misfireGraceMs: number;
  };
}

/** Authentication and authorization (DESIGN Part 2 §B; docs/auth.md). */
export interface AuthConfig {
  readonly mode: 'off' | 'on';
  readonly jwt: {
    readonly secret: string | undefined;
    readonly jwksUrl: string | undefined;
    readonly jwksFile: string | undefined;
    readonly issuer: string | undefined;
    readonly audience: string | undefined;
    readonly tenantClaim: string;
    readonly scopeClaim: string;
  };
  /** Read tokens' lifetime, in seconds. */
  readonly readTokenTtlS: number;
  /** Undefined: a secret kept in the database. */
  readonly readTokenSecret: string | undefined;
  readonly corsOrigins: readonly string[];
  /** Reverse proxies whose forwarding header names the client (addresses and CIDR ranges). */
  readonly trustedProxies: readonly string[];
  /** The header those proxies append the client to (src/server/client-address.ts reads it). */
  readonly trustedProxyHeader: 'x-forwarded-for' | 'forwarded';
  readonly metricsToken: string | undefined;
  /** Enqueues per second per principal; 0: unlimited. */
  readonly enqueueRatePerS: number;
  /** Open subscriptions per principal per process; 0: unlimited. */
  readonly maxSubscriptionsPerPrincipal: number;
}

/**
 * Reads and validates the configuration. Empty strings count as unset.
 * @throws ConfigError naming every bad variable and why.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      return `${describeValue(name, raw[name] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`, {
      field: String(parsed.error.issues[0]?.path[0] ?? ''),
    });
  }
  const e = parsed.data;
  if (e.HEARTBEAT_MS >= e.LEASE_MS) {
    throw new ConfigError(
      `Invalid configuration:\n  HEARTBEAT_MS=${e.HEARTBEAT_MS}: must be less than LEASE_MS (${e.LEASE_MS})`,
      { field: 'HEARTBEAT_MS' },
    );
  }
  if (e.DATABASE_LISTEN_URL && !e.DATABASE_URL) {
    // The embedded PostgreSQL has no pooler in front: a listen URL beside it names another database.
    throw new ConfigError('Invalid configuration:\n  DATABASE_LISTEN_URL: needs DATABASE_URL (the pooled URL it goes beside)', {
      field: 'DATABASE_LISTEN_URL',
    });
  }
  return deepFreeze({
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    host: e.HOST,
    port: e.PORT,
    serverWarmUpMs: e.SERVER_WARM_UP_MS,
    dbPoolSize: e.DB_POOL_SIZE,
    dbIdleTimeoutMs: e.DB_IDLE_TIMEOUT_MS,
    dbLockTimeoutMs: e.DB_LOCK_TIMEOUT_MS,
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      prefetchMs: e.WORKER_PREFETCH_MS,
      claimsInFlight: e.WORKER_CLAIMS_IN_FLIGHT,
      queues: e.WORKER_QUEUES,
      pollIntervalMs: e.WORKER_POLL_INTERVAL_MS,
      leaseMs: e.LEASE_MS,
      heartbeatMs: e.HEARTBEAT_MS,
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    },
    resultTtlMs: e.RESULT_TTL_MS,
    maxResultBytes: e.MAX_RESULT_BYTES,
    maxOutputBytes: e.MAX_OUTPUT_BYTES,
    metricsPort: e.METRICS_PORT,
    maxArgsBytes: e.MAX_ARGS_BYTES,
    maintenanceIntervalMs: e.MAINTENANCE_INTERVAL_MS,
    taskModules: e.TASK_MODULES,
    runWorker: e.RUN_WORKER,
    logLevel: e.LOG_LEVEL,
    // A production deployment does not hand an IDE to whoever finds the URL, unless asked to.
    graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
    databaseListenUrl: e.DATABASE_LISTEN_URL,
    auth: {
      mode: e.AUTH_MODE,
      jwt: {
        secret: e.JWT_SECRET,
        jwksUrl: e.JWT_JWKS_URL,
        jwksFile: e.JWT_JWKS_FILE,
        issuer: e.JWT_ISSUER,
        audience: e.JWT_AUDIENCE,
        tenantClaim: e.JWT_TENANT_CLAIM,
        scopeClaim: e.JWT_SCOPE_CLAIM,
      },
      readTokenTtlS: e.READ_TOKEN_TTL_S,
      readTokenSecret: e.READ_TOKEN_SECRET,
      corsOrigins: e.CORS_ORIGINS,
      trustedProxies: e.TRUSTED_PROXIES,
      trustedProxyHeader: e.TRUSTED_PROXY_HEADER,
      metricsToken: e.METRICS_TOKEN,
      enqueueRatePerS: e.ENQUEUE_RATE_PER_S,
      maxSubscriptionsPerPrincipal: e.MAX_SUBSCRIPTIONS_PER_PRINCIPAL,
    },
    scheduler: {
      enabled: e.SCHEDULER_ENABLED,
      catchUpMax: e.SCHEDULE_CATCH_UP_MAX,
      pollIntervalMs: e.SCHEDULER_POLL_INTERVAL_MS,
      misfireGraceMs: e.SCHEDULE_MISFIRE_GRACE_MS,
    },
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
