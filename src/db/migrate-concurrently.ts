import type postgres from 'postgres';
import type { MigrationMeta } from 'drizzle-orm/migrator';

/** The line that marks a migration to run outside a transaction even without a CONCURRENTLY statement. */
export const NO_TRANSACTION_MARK = '-- taskwire:no-transaction';

/** The SQL of a statement without its comments, to look at what it does (never run). */
function code(statement: string): string {
  return statement.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, ' ').trim();
}

/**
 * Whether a migration runs outside a transaction (see migrateDatabase): it carries the mark
 * line, or one of its statements says CONCURRENTLY, which PostgreSQL refuses in a transaction.
 */
export function isOutsideTransaction(m: MigrationMeta): boolean {
  return m.sql.some((s) => s.split('\n').some((line) => line.trim() === NO_TRANSACTION_MARK) || /\bCONCURRENTLY\b/i.test(code(s)));
}

const CREATE_CONCURRENTLY = /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?((?:"(?:[^"]|"")+"|[\w$]+)(?:\.(?:"(?:[^"]|"")+"|[\w$]+))?)/i;
const DROP_CONCURRENTLY = /^DROP\s+INDEX\s+CONCURRENTLY\s+(?:IF\s+EXISTS\s+)?((?:"(?:[^"]|"")+"|[\w$]+)(?:\.(?:"(?:[^"]|"")+"|[\w$]+))?)\s*;?$/i;

/**
 * Runs a migration's statements one by one, each in its own transaction (autocommit), so that
 * running it again after a crash midway finishes it:
 * - `CREATE INDEX CONCURRENTLY name`: skipped when a valid index of that name exists; an INVALID
 *   one (a build that failed or was interrupted leaves it, and IF NOT EXISTS would keep it) is
 *   dropped concurrently first and built again;
 * - `DROP INDEX CONCURRENTLY name`: skipped when there is no such index;
 * - anything else runs as written, and must be idempotent itself (IF NOT EXISTS, CREATE OR REPLACE).
 * One statement per `--> statement-breakpoint` chunk: several in one chunk would share an
 * implicit transaction, where CONCURRENTLY is refused.
 */
export async function runOutsideTransaction(sql: postgres.Sql, statements: readonly string[]): Promise<void> {
  for (const statement of statements) {
    const what = code(statement);
    if (what === '') continue;
    const created = CREATE_CONCURRENTLY.exec(what);
    if (created?.[1]) {
      const state = await indexState(sql, created[1]);
      if (state === 'valid') continue;
      if (state === 'invalid') await sql.unsafe(`DROP INDEX CONCURRENTLY IF EXISTS ${created[1]}`);
    }
    const dropped = DROP_CONCURRENTLY.exec(what);
    if (dropped?.[1] && (await indexState(sql, dropped[1])) === 'missing') continue;
    await sql.unsafe(statement);
  }
}

async function indexState(sql: postgres.Sql, name: string): Promise<'missing' | 'valid' | 'invalid'> {
  const [row] = await sql`SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass(${name})`;
  if (!row) return 'missing';
  return row.valid === true ? 'valid' : 'invalid';
}
