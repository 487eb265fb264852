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
  keepCoreTypes(sql);
  return {
    sql,
    db,
    close: () => sql.end({ timeout: 5 }),
  };
}

/** PostgreSQL type oids: timestamp, timestamptz, json, jsonb. */
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;
const JSON_OID = 114;
const JSONB = 3802;

/**
 * `drizzle(sql)` rewires the pool it is given, for every query on it: timestamps come back
 * as strings (Drizzle maps them itself) and Date parameters are no longer serialized. The
 * core reads rows with plain SQL and expects Dates (`Task.runAfter` …), and passes Dates as
 * parameters (list filters), so timestamps get postgres.js's own handling back; Drizzle
 * copes (its timestamp columns accept a Date from the driver). JSON parameters stay as
 * Drizzle set them, passed through as text: the core hands PostgreSQL JSON it encoded
 * itself (`encodeJson`), and says so here rather than relying on Drizzle's side effect.
 */
function keepCoreTypes(sql: Sql): void {
  const parseDate = (value: string): Date => new Date(value);
  const serializeDate = (value: Date | string | number): string => (value instanceof Date ? value : new Date(value)).toISOString();
  for (const oid of [TIMESTAMP, TIMESTAMPTZ]) {
    sql.options.parsers[oid] = parseDate;
    sql.options.serializers[oid] = serializeDate;
  }
  const passThrough = (value: unknown): unknown => value;
  sql.options.serializers[JSON_OID] = passThrough;
  sql.options.serializers[JSONB] = passThrough;
}
