import type postgres from 'postgres';

/**
 * postgres.js's own codes for a connection that is gone (src/errors.js `connection()`): raised when
 * the socket closed, the connection was destroyed or the pool ended under a query.
 */
const GONE_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED']);

/** The query failed because its connection is gone (closed, reset, destroyed), not for its SQL. */
function connectionGone(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, syscall } = error as { code?: unknown; syscall?: unknown };
  // A socket's own failure (ECONNRESET, EPIPE, ETIMEDOUT…): Node closes the socket after it.
  return (typeof code === 'string' && GONE_CODES.has(code)) || typeof syscall === 'string';
}

/**
 * `sql.begin(fn)`, without the way it takes the process down when the database closes the
 * transaction's connection under it (a restart, a failover, `pg_terminate_backend`, a cut network).
 *
 * postgres.js 3.4.x answers a failed transaction with its own ROLLBACK, and after a closed connection
 * that ROLLBACK is written from a `setImmediate` to a socket already set to null: an uncatchable
 * `TypeError: Cannot read properties of null (reading 'write')` (porsager/postgres#1154, #1208; the
 * fixes, #1168 and #1176, are not released). So a transaction failing for its connection does not
 * fail back into postgres.js: its callback is left unsettled (no ROLLBACK, no COMMIT is sent; the
 * database rolled it back when the connection ended) and `begin` rejects all the same, with the
 * connection's own error, which postgres.js raises for every transaction whose connection closes.
 *
 * It covers what runs inside `fn` as awaited queries of `tx`: every `await` in a transaction of ours
 * is one (a query sent after the connection closed, with no query of `tx` in flight to notice it,
 * would meet the same null socket).
 */
export function transaction<T>(sql: postgres.Sql, fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    try {
      return await fn(tx);
    } catch (error) {
      // Never settles: begin() rejects through the connection's close, which follows (or came first).
      if (connectionGone(error)) return new Promise<never>(() => undefined);
      throw error;
    }
  }) as Promise<T>;
}
