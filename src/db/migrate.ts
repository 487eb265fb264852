import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';
import { ConfigError } from '../errors.js';
import { isOutsideTransaction, runOutsideTransaction } from './migrate-concurrently.js';
import { socketOf } from './socket.js';
import { postgresTarget, readPostgresUrl } from '../postgres-url.js';
import { transaction } from './transaction.js';

/** The committed drizzle-kit migrations. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

// Any constant works; it only has to be the same in every taskwire process.
const MIGRATION_LOCK_KEY = 0x7a5c_1e01;

/** How long a process waits between tries of the migration lock, in ms. */
const LOCK_RETRY_MS = 100;

export interface MigrateOptions {
  /** Where the migrations and their `meta/_journal.json` are. Default: the package's `drizzle/` (MIGRATIONS_FOLDER). */
  migrationsFolder?: string;
  /**
   * How long a migration run in a transaction waits for a table lock before it backs off and tries
   * again (default MIGRATION_LOCK_TIMEOUT_MS). Its ALTER TABLE queues for an ACCESS EXCLUSIVE lock,
   * and every enqueue, claim and completion queues behind it: without a bound, one long reader of
   * `tasks` (a report, a dump) held the whole write path for as long as it ran.
   */
  lockTimeoutMs?: number;
  /** Told of each try that gave up on a lock (the migration is tried again after a pause). */
  onLockWait?: (wait: { migration: string; attempt: number; lockTimeoutMs: number }) => void;
}

/** The warning a process logs at start on a database that a newer release migrated (MigrationReport.databaseAhead). */
export const DATABASE_AHEAD_MESSAGE =
  'the database holds migrations newer than this release knows: a newer taskwire ran against it. This one runs on it the old way (docs/deploy.md "Rolling back"); upgrade it, or stop the newer processes gracefully first';

/** The warning a process logs when a migration gave up on a lock (onLockWait), the same wherever it runs. */
export function lockWaitMessage(wait: { migration: string; attempt: number; lockTimeoutMs: number }): string {
  return `${wait.migration} waited ${wait.lockTimeoutMs} ms for a table lock another session holds (a long transaction on tasks?); rolled back, trying again (try ${wait.attempt + 1})`;
}

/** What a run of the migrations did, as `taskwire migrate` prints it and a starting process logs it. */
export function migrationSummary(report: { applied: number; known: number }): string {
  return report.applied === 0 ? `migrations: none pending (${report.known} applied)` : `migrations: applied ${report.applied} (${report.known} in all)`;
}

/** MigrateOptions.lockTimeoutMs' default: a writer waits behind a migration this long at most per try. */
export const MIGRATION_LOCK_TIMEOUT_MS = 2000;
/** PostgreSQL's lock_not_available: lock_timeout passed. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Applies pending migrations, as drizzle-orm's migrator does and recorded where it records them
 * (`drizzle.__drizzle_migrations`: the file's sha256 and its journal `when`), so drizzle-kit stays
 * the source of migrations: runs of ordinary migrations apply in one transaction each, all or
 * nothing. A migration marked `-- taskwire:no-transaction`, or holding a statement with
 * CONCURRENTLY (`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`), runs outside any
 * transaction, statement by statement, so that an index is built on a table that holds data
 * without locking writers out (docs/decisions.md "Migrations without long locks"); it is
 * recorded once all its statements are done, and must be safe to run again after a crash
 * midway (an index a crash left INVALID is dropped and built again).
 *
 * Idempotent, and safe when several processes start at once: they take turns on a session
 * advisory lock, and the later ones find nothing to do. The lock is tried, not waited for in
 * one statement: a backend waiting inside pg_advisory_lock holds a snapshot, and CREATE INDEX
 * CONCURRENTLY waits for every older snapshot, so the holder would wait for its waiters.
 * `url` must reach PostgreSQL directly (DATABASE_LISTEN_URL when DATABASE_URL is PgBouncer's
 * in transaction mode): through the pooler the lock and its unlock could run in different
 * server sessions, leaving the lock held for good in the first.
 */
/** `statement_timeout` off, as the startup parameter's text (typed a number by postgres.js). */
const NO_TIMEOUT = '0' as unknown as number;

export async function migrateDatabase(url: string, options: MigrateOptions = {}): Promise<MigrationReport> {
  requireDatabaseUrl(url, 'migrateDatabase');
  const migrations = readMigrationFiles({ migrationsFolder: options.migrationsFolder ?? MIGRATIONS_FOLDER });
  // One connection: the session lock and every statement share it. plan_cache_mode changes
  // nothing here; it is sent because a transaction pooler refuses it at once (PgBouncer: "unsupported
  // startup parameter"), as it refuses a direct pool's (src/db/client.ts): so migrations never run
  // through one, where the lock could stay held.
  // No statement_timeout: a database-level one (30 s is common) cancelled CREATE INDEX CONCURRENTLY on a
  // big table, left the index INVALID, and every process, migrating at start, then exited (a DBA's
  // PostgreSQL 15, 2,000,000 tasks). Migrations may take their time; their locks are short by design.
  const target = postgresTarget(url);
  const sql = postgres(target.url, {
    ...target.options,
    ...socketOf(target),
    max: 1,
    onnotice: () => undefined,
    connection: {
      application_name: 'taskwire migrate',
      plan_cache_mode: 'force_custom_plan',
      // Text, as a startup parameter is: postgres.js leaves a falsy one (the number 0) out.
      statement_timeout: NO_TIMEOUT,
      jit: 'off',
      default_transaction_isolation: 'read committed',
    },
  });
  try {
    await sql`SELECT 1`.catch((error: unknown) => {
      throw throughPooler(error) ?? error;
    });
    while (!(await sql`SELECT pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) AS ok`)[0]?.ok) await delay(LOCK_RETRY_MS);
    try {
      const { applied, lastMillis } = await applyPending(sql, migrations, url, options);
      const newest = migrations.reduce((n, m) => Math.max(n, m.folderMillis), 0);
      return { applied, known: migrations.length, databaseAhead: lastMillis !== undefined && lastMillis > newest };
    } finally {
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Refuses an empty URL (`config.databaseUrl!` with DATABASE_URL unset, in a program of the
 * user's): postgres.js would take it for "use the PG* variables, else localhost:5432" and fail
 * later with a connection error that names neither the URL nor the variable.
 * @throws ConfigError naming DATABASE_URL.
 */
export function requireDatabaseUrl(url: string | undefined, caller: string): asserts url is string {
  if (typeof url === 'string' && url.trim() !== '') return;
  throw new ConfigError(
    `DATABASE_URL is not set: ${caller} needs the URL of a PostgreSQL (postgres://user:password@host:port/database); ` +
      'beside `npm start`, the embedded one is postgres://postgres:taskwire@127.0.0.1:<port in .data/port>/postgres',
    { field: 'DATABASE_URL' },
  );
}

/**
 * A connection refused for its startup parameters, as by a transaction pooler: a ConfigError that
 * says what to set, for the process to stop with (the pool would be refused for the same reason).
 */
function throughPooler(error: unknown): ConfigError | undefined {
  if (!(error instanceof Error) || !/unsupported startup parameter/i.test(error.message)) return undefined;
  return new ConfigError(
    `The database URL reaches a connection pooler, not PostgreSQL (${error.message}): migrations and LISTEN need a direct connection. ` +
      'Set DATABASE_LISTEN_URL to PostgreSQL itself, beside the pooled DATABASE_URL (docs/deploy.md#pgbouncer).',
    { field: 'DATABASE_LISTEN_URL' },
  );
}

/** What a migrateDatabase call did: `applied` this time (0: the database was up to date), of `known`. */
export interface MigrationReport {
  applied: number;
  known: number;
  /**
   * The database holds a migration newer than any this release knows: a newer release ran against
   * it (a rollback, or an old process beside new ones), and this one runs the old way on its schema.
   */
  databaseAhead: boolean;
}

/** PostgreSQL's insufficient_privilege: permission denied, or "must be owner of". */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * A role's missing privilege as a ConfigError that says what to do: the process stops with exit
 * code 2 naming DATABASE_URL, not with a bare "permission denied for database" and exit 1.
 */
function privilegeProblem(error: unknown, url: string, pending: number | undefined): ConfigError | undefined {
  if ((error as { code?: unknown } | null)?.code !== INSUFFICIENT_PRIVILEGE) return undefined;
  const read = readPostgresUrl(url);
  const user = 'parts' in read ? read.parts.user : '';
  const role = user ? `role "${user}"` : 'the role';
  const reason = (error as Error).message;
  const message =
    pending === undefined
      ? `The ${role} of DATABASE_URL cannot read which migrations are applied (${reason}): grant it USAGE on schema drizzle and SELECT on drizzle.__drizzle_migrations`
      : `${pending} migration${pending === 1 ? ' is' : 's are'} pending and the ${role} of DATABASE_URL cannot apply ${pending === 1 ? 'it' : 'them'} (${reason}): ` +
        'run `taskwire migrate` once with a role that owns the database (CREATE on it and on schema public, owner of the tables), then start this one; ' +
        'a role with only SELECT/INSERT/UPDATE/DELETE/EXECUTE can run taskwire once the migrations are applied (DATABASE_LISTEN_URL, when set, is the URL migrations use)';
  return new ConfigError(message, { field: 'DATABASE_URL', cause: error });
}

/**
 * Applies the migrations newer than the last one recorded; returns how many. The bookkeeping
 * schema and table are created only when missing: `CREATE SCHEMA IF NOT EXISTS` checks the CREATE
 * privilege on the database even when the schema exists, so a least-privilege role (no CREATE)
 * could not start on a migrated database.
 */
async function applyPending(sql: postgres.Sql, migrations: MigrationMeta[], url: string, options: MigrateOptions): Promise<{ applied: number; lastMillis: number | undefined }> {
  let present = false;
  let lastMillis: number | undefined;
  try {
    const [table] = await sql`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present`;
    present = table?.present === true;
    if (present) {
      const [last] = await sql`SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1`;
      lastMillis = last ? Number(last.created_at) : undefined;
    }
  } catch (error) {
    throw privilegeProblem(error, url, undefined) ?? error;
  }
  const pending = migrations.filter((m) => lastMillis === undefined || lastMillis < m.folderMillis);
  if (pending.length === 0) return { applied: 0, lastMillis };
  try {
    if (!present) {
      await sql`CREATE SCHEMA IF NOT EXISTS drizzle`;
      await sql`CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`;
    }
    await applyAll(sql, pending, options);
  } catch (error) {
    throw privilegeProblem(error, url, pending.length) ?? error;
  }
  return { applied: pending.length, lastMillis };
}

/**
 * Applies `pending` in order: runs of ordinary migrations in one transaction each, the others alone.
 * A transaction waits `lockTimeoutMs` at most for each lock (SET LOCAL lock_timeout); past that it
 * rolls back, pauses (1–3× the timeout, so the writers queued behind it get through) and is tried
 * again, for as long as it takes. The CONCURRENTLY ones are not bounded: they wait for older
 * transactions by design, and lock out no writer meanwhile.
 */
async function applyAll(sql: postgres.Sql, pending: MigrationMeta[], options: MigrateOptions): Promise<void> {
  const lockTimeoutMs = options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
  for (let i = 0; i < pending.length; ) {
    const first = pending[i] as MigrationMeta;
    if (isOutsideTransaction(first)) {
      await runOutsideTransaction(sql, first.sql);
      await record(sql, first);
      i++;
      continue;
    }
    // The run of ordinary migrations up to the next one outside a transaction: together, as drizzle does.
    let end = i;
    while (end < pending.length && !isOutsideTransaction(pending[end] as MigrationMeta)) end++;
    const run = pending.slice(i, end);
    for (let attempt = 1; ; attempt++) {
      try {
        await transaction(sql, async (tx) => {
          await tx.unsafe(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
          for (const m of run) {
            for (const statement of m.sql) await tx.unsafe(statement);
            await record(tx, m);
          }
        });
        break;
      } catch (error) {
        if ((error as { code?: unknown } | null)?.code !== LOCK_NOT_AVAILABLE) throw error;
        options.onLockWait?.({ migration: migrationName(run[0] as MigrationMeta), attempt, lockTimeoutMs });
        await delay(lockTimeoutMs * (1 + Math.random() * 2));
      }
    }
    i = end;
  }
}

async function record(sql: postgres.Sql | postgres.TransactionSql, m: MigrationMeta): Promise<void> {
  await sql`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (${m.hash}, ${m.folderMillis})`;
}

/** A migration as a person names it: its journal time (drizzle keeps no file name in its meta). */
function migrationName(m: MigrationMeta): string {
  return `the migration of ${new Date(m.folderMillis).toISOString()}`;
}
