import type postgres from 'postgres';

/**
 * postgres.js's own codes for a connection that is gone (src/errors.js `connection()`): raised when
 * the socket closed, the connection was destroyed or the pool ended under a query.
 */
const GONE_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED']);

/** postgres.js's error for a connection that is gone (closed, destroyed, ended), not for its SQL. */
function connectionGone(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && GONE_CODES.has(code);
}

/**
 * `sql.begin(fn)`, without the way it takes the process down when the database closes the
 * transaction's connection under it (a restart, a failover, `pg_terminate_backend`, a cut network).
 *
 * postgres.js 3.4.x answers a failed transaction with its own ROLLBACK, and after a closed connection
 * that ROLLBACK is written from a `setImmediate` to a socket already set to null: an uncatchable
 * `TypeError: Cannot read properties of null (reading 'write')` (porsager/postgres#1154, #1208; the
 * fixes, #1168 and #1176, are not released). So a transaction failing because its connection closed
 * does not fail back into postgres.js: its callback is left unsettled (no ROLLBACK, no COMMIT is sent;
 * the database rolled it back when the connection ended) and `begin` rejects all the same, with the
 * connection's own error, which postgres.js raises for every transaction whose connection closes.
 * Told by `begin` itself: postgres.js rejects it in the same turn as the statements of a connection
 * that closed, so after that turn a `begin` still pending means the error came from elsewhere (another
 * pool's connection inside `fn`), and the transaction rolls back as usual. Leaving the callback of a
 * live connection unsettled would hold its transaction, and its locks, for ever.
 *
 * It covers what runs inside `fn` as awaited queries of `tx`: every `await` in a transaction of ours
 * is one (a query sent after the connection closed, with no query of `tx` in flight to notice it,
 * would meet the same null socket).
 */
export function transaction<T>(sql: postgres.Sql, fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  let closed = false;
  const run = sql.begin(async (tx) => {
    try {
      return await fn(tx);
    } catch (error) {
      if (connectionGone(error)) {
        // Until every promise the close settled has run its reactions: begin()'s rejection among them.
        await new Promise<void>((resolve) => setImmediate(resolve));
        // Never settles: begin() has rejected with the connection's close.
        if (closed) return new Promise<never>(() => undefined);
      }
      throw error;
    }
  }) as Promise<T>;
  // Only the close can reject begin() while its callback is still running (above).
  run.catch(() => {
    closed = true;
  });
  return run;
}
