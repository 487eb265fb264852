import { performance } from 'node:perf_hooks';
import type { Sql } from '../db/client.js';

export type DatabaseCheck = { ok: true; latencyMs: number } | { ok: false; error: 'TIMEOUT' | 'UNREACHABLE' };

/**
 * `SELECT 1` on the pool, given up after `timeoutMs`. A query still waiting for a connection
 * is cancelled (postgres.js drops it from its queue), so a dead database does not pile up
 * probes. A full pool counts as not ready too: the probe waits like any request would.
 */
export async function checkDatabase(sql: Sql, timeoutMs: number): Promise<DatabaseCheck & { cause?: unknown }> {
  const started = performance.now();
  const query = sql`SELECT 1 AS ok`;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const result = await Promise.race([query.then(() => 'ok' as const), timeout]);
    if (result === 'timeout') {
      query.catch(() => undefined);
      void Promise.resolve(query.cancel()).catch(() => undefined);
      return { ok: false, error: 'TIMEOUT' };
    }
    return { ok: true, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    return { ok: false, error: 'UNREACHABLE', cause: error };
  } finally {
    clearTimeout(timer);
  }
}
