import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { PostgresJsQueryResultHKT } from 'drizzle-orm/postgres-js';
import type { TablesRelationalConfig } from 'drizzle-orm';
import type { Executor } from '../db/client.js';

/**
 * A Drizzle database or transaction over postgres.js, whatever its schema, or none: `query` is
 * left out because Drizzle types it as an error for a database made without a schema
 * (`drizzle(pool)`), which was therefore refused. (Drizzle's transaction type keeps its
 * session, and so the postgres.js client, out of its public type, so it is matched by its
 * class and unwrapped at run time.)
 */
export type DrizzlePostgresJs = Omit<PgDatabase<PostgresJsQueryResultHKT, Record<string, unknown>, TablesRelationalConfig>, 'query'>;

/**
 * Something an app may hand us to enqueue inside its own transaction: a postgres.js
 * `sql`/transaction, or a Drizzle database/transaction built on postgres.js.
 */
export type ExternalExecutor = Executor | DrizzlePostgresJs;

/** The postgres.js executor behind `tx`. Drizzle keeps it at `session.client` (transactions) or `$client`. */
export function toExecutor(tx: ExternalExecutor): Executor {
  if (typeof tx === 'function') return tx;
  const inner = tx as unknown as { session?: { client?: unknown }; $client?: unknown };
  if (typeof inner.session?.client === 'function') return inner.session.client as Executor;
  if (typeof inner.$client === 'function') return inner.$client as Executor;
  throw new TypeError('tx must be a postgres.js sql/transaction or a Drizzle (postgres-js) database/transaction');
}
