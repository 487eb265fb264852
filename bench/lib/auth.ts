import postgres from 'postgres';
import { createApiKey } from '../../src/auth/api-keys.js';
import type { Scope } from '../../src/auth/principal.js';

/** The tenant of the auth-on variants' key and tasks (auth off runs as the anonymous admin of `default`). */
export const BENCH_TENANT = 'bench';

/**
 * Config overrides of a server process with authentication on (docs/auth.md). The per-principal
 * limits stay on, so their bookkeeping is measured, but far above what a run asks: one key makes
 * every enqueue of (e) (the default 1,000/s would throttle it) and holds every subscription of (g)
 * (10,000 in a full run, over the default cap of 1,000).
 */
export const AUTH_ON_ENV: Readonly<Record<string, string>> = Object.freeze({
  AUTH_MODE: 'on',
  ENQUEUE_RATE_PER_S: '1000000000',
  MAX_SUBSCRIPTIONS_PER_PRINCIPAL: '1000000000',
});

/** Makes an API key of BENCH_TENANT with `scopes` in the database at `url`; returns `Bearer <key>`. */
export async function createBenchKey(url: string, scopes: Scope[]): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, transform: { column: { from: postgres.toCamel } } });
  try {
    const { key } = await createApiKey(sql, { tenant: BENCH_TENANT, scopes, name: 'bench' });
    return `Bearer ${key}`;
  } finally {
    await sql.end();
  }
}
