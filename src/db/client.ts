import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import * as schema from './schema.js';

export type Sql = postgres.Sql;
/** A postgres.js connection pool, a reserved connection or a transaction: anything that runs SQL. */
export type Executor = postgres.Sql | postgres.TransactionSql | postgres.ReservedSql;

export interface Db {
  sql: Sql;
  db: PostgresJsDatabase<typeof schema>;
  close(): Promise<void>;
}

export interface DbOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Called when the LISTEN connection or the pool reports a problem. */
  onNotice?: (notice: postgres.Notice) => void;
}

/**
 * Opens a pool. Column names come back camelCased (so `RETURNING *` rows are task records)
 * and int8 parses to a JS number: counts and millisecond TTLs fit comfortably.
 */
export function createDb(url: string, options: DbOptions = {}): Db {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: options.onNotice ?? (() => undefined),
    transform: { column: { from: postgres.toCamel } },
    types: {
      int8: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
    },
    connection: { application_name: 'taskwire' },
  });
  const db = drizzle(sql, { schema });
  return {
    sql,
    db,
    close: () => sql.end({ timeout: 5 }),
  };
}
