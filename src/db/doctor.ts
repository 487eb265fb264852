import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { ConfigError, isDiskFull, UNTRUSTED_CERTIFICATE } from '../errors.js';
import { readDatabaseClock } from './database-clock.js';
import { MIGRATIONS_FOLDER } from './migrate.js';
import { describeParts, describePostgresUrl, postgresTarget, readPostgresUrl } from '../postgres-url.js';
import { socketOf } from './socket.js';

/** ok: nothing to do; warn: works, but worth fixing; fail: taskwire will not work as it should. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One line of `taskwire doctor`: what was checked, how it went, and (when not ok) what to do. */
export interface CheckResult {
  check: string;
  status: CheckStatus;
  message: string;
}

/** Where a check connects, and the name a user sets it by (for messages: "check DATABASE_URL"). */
export interface Target {
  url: string;
  /** `DATABASE_URL`, `DATABASE_LISTEN_URL`, or a description such as `the embedded PostgreSQL`. */
  source: string;
}

/** The oldest PostgreSQL taskwire supports (DESIGN.md). */
export const MIN_SERVER_VERSION = 14;

/** `host:port/database` (a Unix socket as its directory), never the password. */
export function describeUrl(url: string): string {
  return describePostgresUrl(url);
}

/**
 * One connection for the checks. No prepared statements: DATABASE_URL may go through a
 * transaction pooler (PgBouncer), where a statement prepared on one server connection is not
 * there on the next. No reconnection loop matters: every check has its own deadline.
 */
export function openCheckConnection(url: string): postgres.Sql {
  const target = postgresTarget(url);
  return postgres(target.url, { ...target.options, ...socketOf(target), max: 1, prepare: false, connect_timeout: 5, onnotice: () => undefined, connection: { application_name: 'taskwire doctor' } });
}

/** Ends a connection without waiting on one that never opened (postgres.js keeps retrying it). */
export async function closeCheckConnection(sql: postgres.Sql): Promise<void> {
  await deadline(sql.end({ timeout: 1 }), 2000).catch(() => undefined);
}

class DeadlineError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms / 1000} s`);
  }
}

/**
 * `promise`, or a DeadlineError after `ms`. postgres.js's own connect_timeout does not end a
 * connection attempt to an address that drops packets (it retries), so every check sets its own.
 */
function deadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(ms)), ms);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Why a connection failed, in words a user can act on (no stack, no driver internals). */
export function explainConnectionError(error: unknown, target: Target): string {
  const read = readPostgresUrl(target.url);
  const where = 'parts' in read ? describeParts(read.parts) : 'an unreadable URL';
  const e = error as { code?: string; message?: string };
  const user = 'parts' in read ? read.parts.user : '';
  const database = 'parts' in read ? read.parts.database : '';
  if (error instanceof DeadlineError) return `${where} did not answer within ${error.ms / 1000} s: a wrong host, or a firewall in the way? Check ${target.source}`;
  if (isDiskFull(error)) {
    // 53100 says so; a new connection that cannot write its relation cache says XX000, naming no disk.
    return e.code === '53100'
      ? `${where} cannot write: its disk is full (${e.message}): free space where PostgreSQL keeps its data directory and pg_wal`
      : `${where} cannot write (${e.code ? `${e.code}: ` : ''}${e.message}): is its disk full? Free space where PostgreSQL keeps its data directory and pg_wal`;
  }
  const ssl = 'target' in read ? read.target.options.ssl : undefined;
  const tls = explainTlsError(e, where, target.source, typeof ssl === 'object' && ssl.ca !== undefined);
  if (tls !== undefined) return tls;
  switch (e.code) {
    case 'ECONNREFUSED':
      return `nothing accepts connections at ${where} (connection refused): is PostgreSQL running there? Check ${target.source}`;
    // A Unix socket (src/postgres-url.ts): its file missing, or not ours to open.
    case 'ENOENT':
      return `no PostgreSQL socket at ${where} (${socketFile(error)}: no such file): is PostgreSQL running, with this directory in its unix_socket_directories and this port? Check ${target.source}`;
    case 'EACCES':
      return `the socket of ${where} cannot be opened by this user (${socketFile(error)}: permission denied): check the directory's and the socket's permissions, or ${target.source}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host of ${where} is not found (DNS): check ${target.source}`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} cannot be reached (${e.code}): check ${target.source} and the network`;
    case '28P01':
    case '28000':
      return `${where} refused user "${user}" (${e.code}: ${e.message}): check the user and password in ${target.source}`;
    case '3D000':
      return `database "${database}" does not exist on ${where}: create it (createdb ${shellWord(database)}) or fix ${target.source}`;
    case '53300':
      return `${where} has no connection left (too many clients): raise max_connections, lower DB_POOL_SIZE, or put PgBouncer in front`;
    case '57P01':
    case '57P02':
    case '57P03':
      return `${where} is shutting down, restarting or not yet accepting connections (${e.code}: ${e.message}): start again once it is back`;
    case 'CONNECTION_CLOSED':
    case 'CONNECTION_DESTROYED':
    case 'CONNECTION_ENDED':
    case 'ECONNRESET':
      return `${where} closed the connection (${e.code}): is it restarting or failing over? Start again once it is back`;
    default:
      return `${where}: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)} (check ${target.source})`;
  }
}

/** OpenSSL's reason in one of its messages (`…:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:…`), else the first line. */
function sslReason(message: string | undefined): string {
  return /SSL routines:[^:]*:([^:]+):/.exec(message ?? '')?.[1] ?? (message ?? '').split('\n')[0] ?? '';
}

/**
 * The server hung up on TLS's handshake: Node's words when PostgreSQL answered the TLS request with
 * "no" (a server without ssl = on) and postgres.js, told to require TLS, started the handshake anyway
 * (the server then reads it as a malformed startup packet and closes). A server going down at that
 * moment says the same, more rarely.
 */
export function isTlsSetupCut(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ECONNRESET' && typeof e.message === 'string' && e.message.includes('before secure TLS connection was established');
}

/**
 * A connection refused over TLS, or for the lack of it (src/postgres-url.ts reads libpq's TLS
 * parameters): what to change in the URL. Undefined for any other error.
 */
function explainTlsError(e: { code?: string; message?: string }, where: string, source: string, namesCa: boolean): string | undefined {
  if (e.code !== undefined && UNTRUSTED_CERTIFICATE.has(e.code)) {
    const by = namesCa ? 'the CA of ?sslrootcert=' : "a CA this process trusts (no ?sslrootcert=: Node's public CAs)";
    return `the certificate of ${where} is not signed by ${by} (${e.code}: ${e.message}): name the CA that signed the server's certificate as ?sslrootcert=/path/ca.pem, or ?sslrootcert=system for a publicly trusted one. Check ${source}`;
  }
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const host = /Host: ([^.\s]+(?:\.[^.\s]+)*)\. is not in the cert's altnames/.exec(e.message ?? '')?.[1] ?? /IP: ([0-9a-f.:]+) is not in the cert's list/.exec(e.message ?? '')?.[1];
    // verify-ca only against a CA of one's own: the system's CAs vouch for names alone.
    const or = namesCa ? ', or verify the chain only with ?sslmode=verify-ca' : '';
    return `the certificate of ${where} does not name ${host ?? 'its host'} (${e.message}): connect by a name it holds${or}. Check ${source}`;
  }
  if (e.code === 'CERT_HAS_EXPIRED' || e.code === 'CERT_NOT_YET_VALID') {
    return `the certificate of ${where} is not valid now (${e.code}: ${e.message}): renew it on the server. Check ${source}`;
  }
  if (e.code === 'CERT_REVOKED') {
    return `the certificate of ${where} is revoked by ?sslcrl= (${e.message}): the server needs a new one. Check ${source}`;
  }
  if (e.code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA') {
    return `${where} does not trust the client certificate of ?sslcert= (${sslReason(e.message)}): its CA must be in the server's ssl_ca_file. Check ${source}`;
  }
  if (e.code === 'ERR_SSL_NO_PROTOCOLS_AVAILABLE' || e.code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || e.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION') {
    return `${where} and this process share no TLS version (${sslReason(e.message)}): check ?ssl_min_protocol_version= and ?ssl_max_protocol_version= in ${source}, and the server's ssl_min_protocol_version`;
  }
  if (e.code?.startsWith('ERR_SSL_')) {
    return `the TLS handshake with ${where} failed (${e.code}: ${sslReason(e.message)}): check the TLS parameters in ${source} and the server's TLS settings`;
  }
  // pg_hba.conf's `cert` method (or clientcert=verify-full) and no client certificate sent.
  if (e.code === '28000' && /requires a valid client certificate/.test(e.message ?? '')) {
    return `${where} wants a client certificate (${e.message}): give ?sslcert=/path/client.crt&sslkey=/path/client.key in ${source}`;
  }
  if (isTlsSetupCut(e)) {
    return `${where} closed the connection before TLS was set up (${e.message}): does it accept TLS (ssl = on)? If it does not, ?sslmode=prefer or disable in ${source}; if it does, is it restarting?`;
  }
  // pg_hba.conf's `hostnossl … reject`, or no `host` line matching a connection without TLS.
  if (e.code === '28000' && /no encryption/.test(e.message ?? '')) {
    return `${where} refuses connections without TLS (${e.message}): add ?sslmode=require, or better ?sslmode=verify-full&sslrootcert=/path/ca.pem, to ${source}`;
  }
  return undefined;
}

/** `word` as one word of a POSIX shell: quoted unless it is plain (a name with a space made `createdb my db`). */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_.@%+=:,/-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The socket file a connection error names (Node's `address`), else what the message says. */
function socketFile(error: unknown): string {
  const address = (error as { address?: unknown }).address;
  return typeof address === 'string' ? address : String((error as { message?: unknown }).message);
}

/** Connects and reads the server's version: PostgreSQL ≥ 14 answering within `timeoutMs` (default 5,000). */
export async function checkConnection(sql: postgres.Sql, target: Target, timeoutMs = 5000): Promise<CheckResult> {
  const started = performance.now();
  try {
    const [row] = await deadline(sql`SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num`, timeoutMs);
    const ms = (performance.now() - started).toFixed(1);
    const version = String(row?.version).split(' ')[0];
    if (Number(row?.num) < MIN_SERVER_VERSION * 10_000) {
      return { check: 'database', status: 'fail', message: `PostgreSQL ${version} at ${describeUrl(target.url)}: taskwire needs ${MIN_SERVER_VERSION} or later` };
    }
    return { check: 'database', status: 'ok', message: `PostgreSQL ${version} at ${describeUrl(target.url)} (${target.source}) answers in ${ms} ms` };
  } catch (error) {
    return { check: 'database', status: 'fail', message: explainConnectionError(error, target) };
  }
}

interface JournalEntry {
  tag: string;
  when: number;
}

/** The migrations this version of taskwire ships (drizzle/meta/_journal.json), oldest first. */
export async function shippedMigrations(folder = MIGRATIONS_FOLDER): Promise<JournalEntry[]> {
  const journal = JSON.parse(await readFile(path.join(folder, 'meta', '_journal.json'), 'utf8')) as { entries: JournalEntry[] };
  return journal.entries.map(({ tag, when }) => ({ tag, when }));
}

/**
 * The shipped migrations the database has not applied, by drizzle's own rule (src/db/migrate.ts
 * runs drizzle's migrator): a migration is applied when it is no newer than the newest row of
 * `drizzle.__drizzle_migrations`. No table yet: all of them.
 */
export async function pendingMigrations(sql: postgres.Sql, folder = MIGRATIONS_FOLDER): Promise<{ pending: string[]; shipped: number; newestApplied: number | undefined }> {
  const shipped = await shippedMigrations(folder);
  const [table] = await sql`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present`;
  let newestApplied: number | undefined;
  if (table?.present) {
    const [row] = await sql`SELECT max(created_at)::text AS newest FROM drizzle.__drizzle_migrations`;
    newestApplied = row?.newest === null || row?.newest === undefined ? undefined : Number(row.newest);
  }
  const pending = shipped.filter((m) => newestApplied === undefined || m.when > newestApplied).map((m) => m.tag);
  return { pending, shipped: shipped.length, newestApplied };
}

/**
 * Throws a ConfigError naming the pending migrations when the database lacks some this version
 * ships: a program embedding the core (createDeps) then fails at once saying what to run, not at
 * its first enqueue with PostgreSQL's `relation "tasks" does not exist`. A database that cannot be
 * read within `timeoutMs` (unreachable, no USAGE on schema drizzle) passes: its first statement says
 * why, and `taskwire doctor` explains.
 */
export async function assertMigrated(sql: postgres.Sql, timeoutMs = 5000): Promise<void> {
  let found: Awaited<ReturnType<typeof pendingMigrations>>;
  try {
    found = await deadline(pendingMigrations(sql), timeoutMs);
  } catch {
    return;
  }
  const { pending, shipped } = found;
  if (pending.length === 0) return;
  const named = pending.length > 3 ? `${pending.slice(0, 3).join(', ')} and ${pending.length - 3} more` : pending.join(', ');
  const what = pending.length === shipped ? `has none of taskwire's ${shipped} migrations applied` : `has ${pending.length} of taskwire's ${shipped} migrations pending (${named})`;
  throw new ConfigError(`the database at DATABASE_URL ${what}: run migrateDatabase(url) or \`taskwire migrate\` first`, { field: 'DATABASE_URL' });
}

/** Every shipped migration applied; the pending ones named when not. */
export async function checkMigrations(sql: postgres.Sql, timeoutMs = 5000, folder = MIGRATIONS_FOLDER): Promise<CheckResult> {
  try {
    const { pending, shipped, newestApplied } = await deadline(pendingMigrations(sql, folder), timeoutMs);
    const latest = (await shippedMigrations(folder)).at(-1);
    if (pending.length > 0) {
      return {
        check: 'migrations',
        status: 'fail',
        message: `${pending.length} of ${shipped} pending: ${pending.join(', ')}; run \`taskwire migrate\` (every process also migrates at start)`,
      };
    }
    if (latest && newestApplied !== undefined && newestApplied > latest.when) {
      return {
        check: 'migrations',
        status: 'warn',
        message: `the database has a migration newer than this taskwire's latest (${latest.tag}): a newer version ran against it; upgrade this one`,
      };
    }
    return { check: 'migrations', status: 'ok', message: `all ${shipped} applied (latest ${latest?.tag ?? 'none'})` };
  } catch (error) {
    return { check: 'migrations', status: 'fail', message: `could not read them: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** How many missing grants a privileges line names before "and N more". */
const NAMED_GRANTS = 5;

/**
 * Whether this role can start a process (src/db/migrate.ts runs at every start) and then work: with
 * the migrations applied, it needs USAGE on schemas public and drizzle, SELECT on
 * drizzle.__drizzle_migrations, SELECT/INSERT/UPDATE/DELETE on taskwire's tables, USAGE on their
 * sequences and EXECUTE on its functions (those owned by the tables' owner, the role that migrated);
 * with migrations pending, it must be able to apply them: own the tables (or be a superuser) and
 * have CREATE on the database and schema public. Default deadline 5,000 ms.
 */
export async function checkPrivileges(sql: postgres.Sql, timeoutMs = 5000, folder = MIGRATIONS_FOLDER): Promise<CheckResult> {
  try {
    return await deadline(privilegesOf(sql, folder), timeoutMs);
  } catch (error) {
    return { check: 'privileges', status: 'fail', message: `could not read them: ${error instanceof Error ? error.message : String(error)}` };
  }
}

async function privilegesOf(sql: postgres.Sql, folder: string): Promise<CheckResult> {
  const [me] = await sql`
    SELECT current_user AS role, r.rolsuper AS superuser,
           has_database_privilege(current_database(), 'CREATE') AS create_database,
           has_schema_privilege('public', 'CREATE') AS create_public,
           t.relowner AS owner_oid,
           coalesce(pg_has_role(t.relowner, 'USAGE'), true) AS owns_tables
    FROM pg_roles r LEFT JOIN pg_class t ON t.oid = to_regclass('public.tasks')
    WHERE r.rolname = current_user`;
  const role = String(me?.role);
  const drizzleSchema = await sql`SELECT has_schema_privilege(oid, 'USAGE') AS usable FROM pg_namespace WHERE nspname = 'drizzle'`;
  if (drizzleSchema[0] && !drizzleSchema[0].usable) {
    return { check: 'privileges', status: 'fail', message: `role "${role}" has no USAGE on schema drizzle: it cannot read which migrations are applied, so no process starts; grant USAGE on schema drizzle and SELECT on drizzle.__drizzle_migrations` };
  }
  const { pending } = await pendingMigrations(sql, folder);
  if (pending.length > 0) {
    const canApply = Boolean(me?.superuser) || (Boolean(me?.owns_tables) && Boolean(me?.create_database) && Boolean(me?.create_public));
    if (canApply) return { check: 'privileges', status: 'ok', message: `role "${role}" can apply the ${pending.length} pending migrations` };
    return {
      check: 'privileges',
      status: 'fail',
      message:
        `${pending.length} migrations are pending and role "${role}" cannot apply them (it needs CREATE on the database and schema public and to own taskwire's tables): ` +
        'a process started with it stops; run `taskwire migrate` once with the owner',
    };
  }
  if (me?.owner_oid === null || me?.owner_oid === undefined) return { check: 'privileges', status: 'ok', message: `role "${role}": no taskwire tables to check` };
  const missing = await sql`
    SELECT 'USAGE on schema public' AS grant WHERE NOT has_schema_privilege('public', 'USAGE')
    UNION ALL
    SELECT 'SELECT on drizzle.__drizzle_migrations' WHERE NOT has_table_privilege('drizzle.__drizzle_migrations', 'SELECT')
    UNION ALL
    SELECT p.privilege || ' on ' || c.relname FROM pg_class c
      CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p(privilege)
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relowner = ${me.owner_oid}
        AND NOT has_table_privilege(c.oid, p.privilege)
    UNION ALL
    SELECT 'USAGE on sequence ' || c.relname FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' AND c.relowner = ${me.owner_oid}
        -- A guard, not a second filter: the planner may call has_sequence_privilege before relkind is
        -- checked, and it raises on a relation that is not a sequence.
        AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(c.oid, 'USAGE') ELSE false END
    UNION ALL
    SELECT 'EXECUTE on ' || f.proname || '()' FROM pg_proc f
      WHERE f.pronamespace = 'public'::regnamespace AND f.proowner = ${me.owner_oid}
        AND NOT has_function_privilege(f.oid, 'EXECUTE')`;
  if (missing.length === 0) return { check: 'privileges', status: 'ok', message: `role "${role}" may read and write taskwire's tables and call its functions` };
  const named = missing.slice(0, NAMED_GRANTS).map((r) => String(r.grant));
  const more = missing.length > NAMED_GRANTS ? ` and ${missing.length - NAMED_GRANTS} more` : '';
  return { check: 'privileges', status: 'fail', message: `role "${role}" lacks ${named.join(', ')}${more}: grant them, or tasks fail as they are enqueued or run` };
}

/**
 * A NOTIFY sent over `notify` (the pool's URL) reaches a LISTEN on a connection of its own to
 * `listen`, as a server's event hub and a worker's wake-ups need. Behind a transaction pooler
 * LISTEN is accepted but nothing arrives: that shows here as a timeout, with the fix named.
 * Default deadline 3,000 ms.
 */
export async function checkListen(notify: postgres.Sql, listen: Target, timeoutMs = 3000): Promise<CheckResult> {
  const channel = `taskwire_doctor_${randomBytes(6).toString('hex')}`;
  const payload = randomBytes(6).toString('hex');
  const listener = openCheckConnection(listen.url);
  try {
    let received!: () => void;
    const arrived = new Promise<void>((resolve) => (received = resolve));
    try {
      await deadline(listener.listen(channel, (value) => value === payload && received()), timeoutMs);
    } catch (error) {
      return { check: 'listen', status: 'fail', message: `LISTEN over ${listen.source}: ${explainConnectionError(error, listen)}` };
    }
    const started = performance.now();
    await deadline(notify.notify(channel, payload), timeoutMs);
    try {
      await deadline(arrived, timeoutMs);
    } catch {
      return {
        check: 'listen',
        status: 'fail',
        message:
          `a NOTIFY did not arrive over ${listen.source} within ${timeoutMs / 1000} s: behind a transaction pooler (PgBouncer) LISTEN ` +
          'does not work; set DATABASE_LISTEN_URL to a direct connection to PostgreSQL (docs/deploy.md#pgbouncer)',
      };
    }
    const ms = (performance.now() - started).toFixed(1);
    return { check: 'listen', status: 'ok', message: `NOTIFY → LISTEN round trip in ${ms} ms (listening over ${listen.source})` };
  } catch (error) {
    return { check: 'listen', status: 'fail', message: explainNotifyFailure(error) };
  } finally {
    await closeCheckConnection(listener);
  }
}

/**
 * Why the check's NOTIFY failed, in doctor's words. A database that cannot write refuses it with a
 * message that names no disk ("could not access status of transaction 0"; 53100 and "No space left
 * on device" only in its code and detail): a tester's full disk read as a LISTEN problem.
 */
export function explainNotifyFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (isDiskFull(error)) {
    return `NOTIFY failed: the database cannot write, its disk is full (${message}): free space where PostgreSQL keeps its data directory and pg_wal`;
  }
  return `NOTIFY failed: ${message}`;
}

export interface ClockOptions {
  /** This process's clock, in epoch ms (default Date.now; a parameter so that tests can skew it). */
  now?: () => number;
  /** Skew that earns a warning, in ms (default 1,000). */
  warnMs?: number;
  /** Skew that fails the check, in ms (default 10,000). */
  failMs?: number;
  timeoutMs?: number;
}

/**
 * The process clock against the database's. Leases and schedules run on the database clock, but
 * task ids (UUID v7, whose order is the enqueue order pages follow) and the runAfter a
 * client computes come from the process's. The reading with the shortest round trip of three is
 * kept; the skew is its database time minus the middle of the round trip.
 */
export async function checkClockSkew(sql: postgres.Sql, options: ClockOptions = {}): Promise<CheckResult> {
  const { now = Date.now, warnMs = 1000, failMs = 10_000, timeoutMs = 5000 } = options;
  try {
    const { offsetMs: skewMs, rttMs } = await readDatabaseClock(sql, { wallNow: now, within: (work) => deadline(work, timeoutMs) });
    const size = Math.abs(skewMs);
    const figure = `${(size / 1000).toFixed(size < 1000 ? 3 : 1)} s ${skewMs > 0 ? 'behind' : 'ahead of'} the database (±${(rttMs / 2000).toFixed(3)} s)`;
    if (size <= warnMs) return { check: 'clock', status: 'ok', message: `this process's clock is ${figure}` };
    const fix = 'task ids (the order lists follow) and a client\'s runAfter use this clock; sync it with NTP (chrony, systemd-timesyncd) here and on the database host (docs/operations.md "Clocks")';
    return { check: 'clock', status: size > failMs ? 'fail' : 'warn', message: `this process's clock is ${figure}: over ${(size > failMs ? failMs : warnMs) / 1000} s; ${fix}` };
  } catch (error) {
    return { check: 'clock', status: 'fail', message: `could not read the database clock: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export interface DatabaseChecksOptions {
  /** The pool's database (DATABASE_URL, or the embedded one). */
  database: Target;
  /** Where LISTEN goes (DATABASE_LISTEN_URL); default: `database`. */
  listen?: Target;
  clock?: ClockOptions;
}

/**
 * Every database check, in order: the connection, then (only when it works) the migrations, the
 * role's privileges, LISTEN/NOTIFY and the clock. `skipped` names the checks not run because the database did not answer.
 */
export async function runDatabaseChecks(options: DatabaseChecksOptions): Promise<{ results: CheckResult[]; skipped: string[] }> {
  const sql = openCheckConnection(options.database.url);
  try {
    const connection = await checkConnection(sql, options.database);
    if (connection.status === 'fail') return { results: [connection], skipped: ['migrations', 'privileges', 'listen', 'clock'] };
    const migrations = await checkMigrations(sql);
    const privileges = await checkPrivileges(sql);
    const listen = await checkListen(sql, options.listen ?? options.database);
    const clock = await checkClockSkew(sql, options.clock);
    return { results: [connection, migrations, privileges, listen, clock], skipped: [] };
  } finally {
    await closeCheckConnection(sql);
  }
}
