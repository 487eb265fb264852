import type { Executor } from '../db/client.js';

/**
 * Something an app may hand us to enqueue inside its own transaction: a postgres.js
 * `sql`/transaction, or a Drizzle database/transaction built on postgres.js.
 */
export type ExternalExecutor = Executor | { session: { client: Executor } } | { $client: Executor };

/** The postgres.js executor behind `tx`. Drizzle keeps it at `session.client` (transactions) or `$client`. */
export function toExecutor(tx: ExternalExecutor): Executor {
  if (typeof tx === 'function') return tx;
  if ('session' in tx && typeof tx.session?.client === 'function') return tx.session.client;
  if ('$client' in tx && typeof tx.$client === 'function') return tx.$client;
  throw new TypeError('tx must be a postgres.js sql/transaction or a Drizzle (postgres-js) database/transaction');
}
