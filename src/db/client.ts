import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { exponentialDelayMs } from '../exponential-delay.js';
import { postgresTarget } from '../postgres-url.js';
import { plainSocket, socketOf, sslRequestSocket } from './socket.js';

export type Sql = postgres.Sql;
/** A postgres.js connection pool, a reserved connection or a transaction: anything that runs SQL. */
export type Executor = postgres.Sql | postgres.TransactionSql | postgres.ReservedSql;

export interface Db {
  sql: Sql;
  /**
   * The client LISTEN goes through (see `listen` in src/queue/events.ts): a client of its own on
   * `listenUrl` when one was given, else `sql` itself. It opens one connection, for LISTEN only.
   */
  listenSql: Sql;
  /** True when `sql` goes through a transaction pooler (a `listenUrl` was given). */
  pooled: boolean;
  close(): Promise<void>;
}

export interface DbOptions {
  /** Pool size (default 10). */
  max?: number;
  /**
   * Closes a pooled connection idle this long, in ms (default: never), so that a pool grown by a
   * burst gives its connections back to PostgreSQL. The LISTEN connection is never closed for it.
   */
  idleTimeoutMs?: number;
  /**
   * The longest a statement of the pool waits for a lock, in ms (PostgreSQL's `lock_timeout`;
   * default and 0: for ever). A table locked by maintenance or a stuck migration otherwise holds
   * every request and every pooled connection as long as it lasts, with no error and no log line;
   * past it the statement fails with 55P03, which isDatabaseUnavailable counts as an outage (nothing
   * was done: answered DATABASE_UNAVAILABLE, retried by the worker). Sent as a startup parameter,
   * so not through a pooler (`listenUrl` given): set it on the role there (docs/deploy.md).
   */
  lockTimeoutMs?: number;
  /** Called when the LISTEN connection or the pool reports a problem. */
  onNotice?: (notice: postgres.Notice) => void;
  /**
   * A direct URL to LISTEN on (DATABASE_LISTEN_URL), for when `url` goes through PgBouncer in
   * transaction mode, where a LISTEN would be heard by whichever session the pooler lent and lost
   * with it. Given one, the pool on `url` also prepares no statements and sends no startup
   * parameter but application_name (docs/deploy.md "PgBouncer"). Default: none, `url` is direct.
   */
  listenUrl?: string;
}

/**
 * Opens a pool. Column names come back camelCased (so `RETURNING *` rows are task records)
 * and int8 parses to a JS number: counts and millisecond TTLs fit comfortably.
 */
export function createDb(url: string, options: DbOptions = {}): Db {
  const pooled = options.listenUrl !== undefined;
  const sql = createClient(url, {
    max: options.max ?? 10,
    idleTimeoutMs: options.idleTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    onNotice: options.onNotice,
    pooled,
  });
  // Its own pool never runs a query: `sql.listen` opens the one connection that LISTENs.
  const listenSql = pooled ? createClient(options.listenUrl as string, { max: 1, onNotice: options.onNotice, pooled: false }) : sql;
  LISTEN_CLIENTS.set(sql, listenSql);
  keepCoreTypes(sql);
  return {
    sql,
    listenSql,
    pooled,
    close: async () => {
      await Promise.all([endPool(sql), listenSql === sql ? undefined : endPool(listenSql)]);
    },
  };
}

/** How long a pool's end waits for the statements it still holds, in s, when its database is there. */
const END_TIMEOUT_S = 5;

/**
 * Ends a pool: its statements under way may finish for END_TIMEOUT_S, then every connection is cut
 * and what is left is refused (CONNECTION_DESTROYED). At once, though, when nothing accepts
 * connections where it connects (a stopped or restarting server): a statement sent while the
 * database is gone waits in postgres.js for a connection that will not come, and every process
 * stopped during an outage spent the whole 5 s on statements that could never run.
 */
async function endPool(sql: Sql): Promise<void> {
  await sql.end({ timeout: (await refusesConnections(sql)) ? 0 : END_TIMEOUT_S });
}

/**
 * Waits for `work`, a wait on statements of `sql`, unless the pool's database refuses connections
 * (looked at after `lookEveryMs`, default 250, and again every `lookEveryMs` while `work` is
 * unsettled) or `atMostMs` (default: no bound) have passed. A statement sent while the database is
 * gone waits in postgres.js for a connection (its back-off reaches 20 s between attempts): each stop
 * that waited for one (a worker's claim under way and the sweep before it, a maintenance round, an
 * UNLISTEN) made a process stopped during an outage wait seconds more, 15–28 s in all in a test's
 * runs. Unless 'settled', `work` is still under way and settles whenever its statements do.
 */
export async function settledOrRefused(
  work: Promise<unknown>,
  sql: Sql,
  { lookEveryMs = 250, atMostMs = Number.POSITIVE_INFINITY }: { lookEveryMs?: number; atMostMs?: number } = {},
): Promise<'settled' | 'refused' | 'too long'> {
  const settled = work.then(
    () => 'settled' as const,
    () => 'settled' as const,
  );
  const giveUpAt = performance.now() + atMostMs;
  let timer: NodeJS.Timeout | undefined;
  const after = <T>(ms: number, value: T): Promise<T> => new Promise<T>((resolve) => (timer = setTimeout(resolve, ms, value)));
  try {
    for (;;) {
      const left = giveUpAt - performance.now();
      if (left <= 0) return 'too long';
      const outcome = await Promise.race([settled, after(Math.min(lookEveryMs, left), 'look' as const)]);
      clearTimeout(timer);
      if (outcome === 'settled') return outcome;
      // The work and the bound are still watched while the look is under way (up to REFUSED_LOOK_MS).
      const look = refusesConnections(sql).then((refused) => (refused ? ('refused' as const) : ('answers' as const)));
      // No timer for no bound: Node fires a timer of Infinity ms after 1 ms.
      const looked = await Promise.race(
        Number.isFinite(atMostMs) ? [settled, look, after(Math.max(0, giveUpAt - performance.now()), 'too long' as const)] : [settled, look],
      );
      clearTimeout(timer);
      if (looked !== 'answers') return looked;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** How long refusesConnections waits for an answer, in ms: a host that drops packets answers nothing. */
const REFUSED_LOOK_MS = 500;

/**
 * Whether every address the pool connects to refuses a TCP connection (or its Unix socket is
 * missing): then nothing it holds can be answered. A connection accepted is closed before a byte is
 * sent: PostgreSQL logs nothing for it at its default settings, one `connection received` line with
 * `log_connections=on` (each pool's end looks once). One unanswered within REFUSED_LOOK_MS counts as
 * not refused.
 */
async function refusesConnections(sql: Sql): Promise<boolean> {
  const { host, port, path, socket } = sql.options as typeof sql.options & { path?: string | false; socket?: unknown };
  // An application's own connector: nothing to look at. The pool's own connect where the options say.
  if (socket && socket !== plainSocket && socket !== sslRequestSocket) return false;
  const targets = path ? [{ path }] : host.map((h, i) => ({ host: h, port: port[i] ?? port[0] ?? 5432 }));
  const answers = await Promise.all(
    targets.map(
      (target) =>
        new Promise<boolean>((resolve) => {
          const probe = connect(target);
          const done = (refused: boolean): void => {
            probe.destroy();
            resolve(refused);
          };
          probe.setTimeout(REFUSED_LOOK_MS, () => done(false));
          probe.once('connect', () => done(false));
          probe.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' || error.code === 'ENOENT'));
        }),
    ),
  );
  return answers.length > 0 && answers.every(Boolean);
}

/** Each pool's listening client, for `listen` (src/queue/events.ts), which is handed the pool. */
const LISTEN_CLIENTS = new WeakMap<Sql, Sql>();

/**
 * The client to LISTEN through for a pool: the one on DATABASE_LISTEN_URL when createDb was given
 * one, else the pool itself (postgres.js then opens a dedicated connection for LISTEN beside it).
 */
export function listenClientOf(sql: Sql): Sql {
  return LISTEN_CLIENTS.get(sql) ?? sql;
}

interface ClientOptions {
  max: number;
  idleTimeoutMs?: number | undefined;
  lockTimeoutMs?: number | undefined;
  onNotice: DbOptions['onNotice'];
  pooled: boolean;
}

/**
 * A startup parameter that makes the startup message longer than postgres.js's write buffer (1,024
 * bytes), so that it is sent at once rather than from a `setImmediate`. Why: postgres.js 3.4.x cancels
 * a buffered write when its connection closes but leaves the buffer and its (cancelled) timer in
 * place, so the next connection's startup message is appended to the dead session's bytes and never
 * sent: a statement sent on that connection waited for `connect_timeout` (30 s) and failed, and the
 * connection failed so again until its buffer passed 1,024 bytes (porsager/postgres PRs #1214, #1215,
 * not released). Found under load when PostgreSQL ended the sessions (a restart, pg_terminate_backend):
 * a read or a cancel answered DATABASE_UNAVAILABLE after 30 s, the database long back
 * (test/db/stale-write.test.ts). With a startup message of 1,024 bytes or more the stale bytes and it
 * go out together; PostgreSQL refuses that as a malformed startup packet (logging "invalid length of
 * startup packet") and the connection, its buffer now emptied, connects again at once. A custom
 * setting (a name with a dot) is accepted and ignored by PostgreSQL; not sent through a pooler (see
 * `connection` below), and not a cure under TLS, whose 8-byte SSLRequest goes first: each attempt of
 * such a connection adds its 8 bytes to the stale ones and waits connect_timeout (30 s), until they
 * pass 1,024 bytes, ~117 attempts later (a tester measured it: about an hour of one request in 30 s
 * answering DATABASE_UNAVAILABLE after a restart under load; docs/deploy.md says so). TLS negotiated
 * directly (`?sslnegotiation=direct`, PostgreSQL 17+) sends no SSLRequest, so the padded startup message
 * is postgres.js's first write there and the cure applies; the classic negotiation gets the same by
 * making the SSLRequest exchange on a socket of its own (socketOf below; test/db/tls.test.ts).
 */
const STARTUP_PADDING_NAME = 'taskwire.startup_padding';
const STARTUP_PADDING = 'x'.repeat(1024);

function createClient(url: string, o: ClientOptions): Sql {
  const target = postgresTarget(url);
  const sql: Sql = postgres(target.url, {
    ...target.options,
    ...socketOf(target),
    max: o.max,
    // In seconds. postgres.js's listen() makes its own connection with no idle timeout.
    ...(o.idleTimeoutMs ? { idle_timeout: o.idleTimeoutMs / 1000 } : {}),
    onnotice: o.onNotice ?? (() => undefined),
    transform: { column: { from: postgres.toCamel } },
    types: {
      int8: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
    },
    // Behind a transaction pooler, consecutive statements run in different server sessions: a
    // statement prepared in one is missing in the next (PgBouncer before 1.21 does not track
    // them), so every statement is sent unnamed, parsed and planned with each run.
    prepare: !o.pooled,
    // TimeZone UTC (which PgBouncer passes on): timestamps come back as `…+00`. In a server's local
    // zone (initdb sets it from the machine's), a time before ~1900 is written in local mean time,
    // `1850-06-01 00:09:21+00:09:21`, which no Date parser reads.
    connection: o.pooled
      ? // PgBouncer refuses startup parameters it does not know (plan_cache_mode among them), and
        // unnamed statements are planned afresh each time anyway: the setting would change nothing.
        { application_name: 'taskwire', TimeZone: 'UTC' }
      : // Custom plans always: postgres.js prepares every statement, and after five runs PostgreSQL
        // may switch to a generic plan. For the claim query on a table without fresh statistics that
        // plan sorts the whole backlog (7.7 ms instead of 0.09 ms with 20,000 pending, bench/README.md),
        // and keyset pages' EXISTS checks turn into sequential scans. Planning each time costs ~0.1 ms.
        // JIT off: taskwire's statements are short; a plan priced past jit_above_cost (a filtered
        // list over a big history) paid 100+ ms of compiling on a PostgreSQL built with JIT. Its
        // functions say so themselves (drizzle/0039), which also holds behind PgBouncer.
        {
          application_name: 'taskwire',
          plan_cache_mode: 'force_custom_plan',
          jit: 'off',
          // Read committed whatever the database's default: the claim and every guarded write rely on it
          // (SKIP LOCKED, re-checking a row once locked). Under a database-level `serializable` a DBA's
          // drain of 3 workers had claims fail with 40001 and ran 25 % slower.
          default_transaction_isolation: 'read committed',
          TimeZone: 'UTC',
          ...(o.lockTimeoutMs ? { lock_timeout: o.lockTimeoutMs } : {}),
          [STARTUP_PADDING_NAME]: STARTUP_PADDING,
        },
    backoff: reconnectDelaySeconds,
  });
  fetchTypesOnce(sql);
  return sql;
}

/**
 * Seconds to wait before the next connection attempt after `retries` failed ones: 0.05 s
 * doubling, capped at 1 s, spread ±50 % (never past 1 s). postgres.js's default grows to 10–20 s (3^n / 100 s,
 * capped at 20), and its LISTEN connection follows the same curve: after a 12 s database
 * restart, workers and subscriptions stayed deaf for another ~9 s (test/reliability/
 * database-restart.test.ts). An attempt against a database that is down costs almost nothing.
 */
function reconnectDelaySeconds(retries: number): number {
  return exponentialDelayMs(retries, { baseMs: 50, maxMs: 1000, jitter: 0.5 }) / 1000;
}

/**
 * postgres.js reads the array types (pg_type) on every new connection, and drops the promise
 * of that query: when the connection dies during it (a database restarting, a backend
 * terminated), the rejection is unhandled and Node ends the process (porsager/postgres#1192,
 * #1223). A worker died so in test/reliability/database-restart.test.ts. The types do not
 * change under a running process and postgres.js keeps them in the pool's shared options, so
 * once they are known, a new connection skips the read: postgres.js reads `fetch_types` as each
 * connection becomes ready, and here it is true only until the types are known. (It was turned
 * off at the pool's first closed connection, which left connections opened before that reading
 * them: one opened while PostgreSQL was shutting down died in the read, in-process, session 47,
 * test/db/types-fetch.test.ts. The pool's first connections still read them: a failure there is a
 * failed start.)
 */
function fetchTypesOnce(sql: Sql): void {
  // Except while a reserve() waits: postgres.js hands a new connection to the reserve() that opened it
  // only after a query of its own has run on it (connection.js ReadyForQuery: with no types to read it
  // returns before onopen), so without the read that reserve() waited until another connection freed
  // up (workflow-lock-order.test.ts hung so; test/db/types-fetch.test.ts). Nothing in src/ reserves;
  // tests and an app's own code on the pool may. Upstream: porsager/postgres#751 and #1219, PR #1220 (open
  // at 3.4.9); with it released, this wrapper can go, and with #1192 fixed, the whole function.
  let reserving = 0;
  const reserve = sql.reserve.bind(sql);
  sql.reserve = async () => {
    reserving += 1;
    try {
      return await reserve();
    } finally {
      reserving -= 1;
    }
  };
  Object.defineProperty(sql.options, 'fetch_types', { get: () => reserving > 0 || !sql.options.parsers[TEXT_ARRAY], enumerable: true, configurable: true });
}

/** text[]: registered by postgres.js only once it has read the array types. */
const TEXT_ARRAY = 1009;

/** PostgreSQL type oids: timestamp, timestamptz, json, jsonb. */
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;
const JSON_OID = 114;
const JSONB = 3802;

/**
 * The types the core reads and sends, set on the pool itself. Timestamps are read by
 * parseTimestamp (postgres.js's own `new Date(text)` misreads years 0–99) and Dates sent as
 * ISO text. JSON parameters pass through as text: the core hands PostgreSQL JSON it encoded
 * itself (`encodeJson`), which postgres.js's default would encode again. (Earlier builds of 0.1.0
 * wrapped the pool in a Drizzle database, which rewired these types for every query; nothing used it,
 * and loading Drizzle cost every process ~0.1 s at its start.)
 */
function keepCoreTypes(sql: Sql): void {
  const parseDate = parseTimestamp;
  const serializeDate = (value: Date | string | number): string => (value instanceof Date ? value : new Date(value)).toISOString();
  for (const oid of [TIMESTAMP, TIMESTAMPTZ]) {
    sql.options.parsers[oid] = parseDate;
    sql.options.serializers[oid] = serializeDate;
  }
  const passThrough = (value: unknown): unknown => value;
  sql.options.serializers[JSON_OID] = passThrough;
  sql.options.serializers[JSONB] = passThrough;
}

/** PostgreSQL's ISO output of a timestamp(tz): `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]]`. */
const PG_TIMESTAMP = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?$/;

/**
 * A timestamp as PostgreSQL writes it, as a Date. `new Date(text)` reads that form with V8's
 * legacy parser, which is right for years 100 and later (every time a task normally holds, and
 * the hot path: a claim reads six per task) but takes years 0–99 for 19xx/20xx (`0001-03-04`
 * became 2004-01-03) and refuses an offset with seconds; those are read field by field. A value
 * without an offset (timestamp without time zone) is UTC, as every session's TimeZone is.
 */
export function parseTimestamp(value: string): Date {
  if (!value.startsWith('00')) {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date;
  }
  const m = PG_TIMESTAMP.exec(value);
  if (!m) return new Date(value);
  const [, year, month, day, hour, minute, second, fraction, sign, oh, om, os] = m;
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), fraction ? Number(fraction.padEnd(3, '0').slice(0, 3)) : 0);
  const offsetMs = sign ? (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0)) * 1000 : 0;
  return new Date(date.getTime() - offsetMs);
}
