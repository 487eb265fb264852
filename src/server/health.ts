import { performance } from 'node:perf_hooks';
import type { Sql } from '../db/client.js';

export type DatabaseCheck = { ok: true; latencyMs: number } | { ok: false; error: 'TIMEOUT' | 'UNREACHABLE' };

/** Each pool's probe in flight: one at a time, shared by the checks that come while it is. */
const probes = new WeakMap<Sql, Promise<void>>();

/**
 * `SELECT 1` on the pool, given up after `timeoutMs` but never cancelled: postgres.js pipelines
 * queries onto busy connections, and cancelling a pipelined one sends a CancelRequest when its turn
 * comes, which cancels whatever that backend runs when it lands — another client's query, a worker's
 * claim — and can leave postgres.js reading the next answer wrong (`offset out of range`,
 * porsager/postgres#1119). At most one probe is in flight per pool, so a dead or saturated database
 * does not pile probes up. A full pool counts as not ready too: the probe waits like any request would.
 */
export async function checkDatabase(sql: Sql, timeoutMs: number): Promise<DatabaseCheck & { cause?: unknown }> {
  const started = performance.now();
  let query = probes.get(sql);
  if (!query) {
    const probe = sql`SELECT 1 AS ok`.then(() => undefined);
    query = probe;
    probes.set(sql, probe);
    const done = (): void => void (probes.get(sql) === probe && probes.delete(sql));
    probe.then(done, done);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const result = await Promise.race([query.then(() => 'ok' as const), timeout]);
    if (result === 'timeout') return { ok: false, error: 'TIMEOUT' };
    return { ok: true, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    return { ok: false, error: 'UNREACHABLE', cause: error };
  } finally {
    clearTimeout(timer);
  }
}
