import postgres from 'postgres';
import { percentiles } from './stats.js';

export interface CommitLatency {
  p50: number;
  p99: number;
}

/**
 * How long one durable commit takes on this machine right now: `count` sequential
 * single-row INSERTs (each its own transaction, so each waits for its WAL flush).
 * Every enqueue, claim and completion pays at least this; the latency targets
 * are read against it.
 */
export async function commitLatency(adminUrl: string, count = 200): Promise<CommitLatency> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await sql`CREATE TABLE IF NOT EXISTS bench_commit_probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`;
    const ms: number[] = [];
    for (let i = 0; i < count + 20; i++) {
      const t0 = performance.now();
      await sql`INSERT INTO bench_commit_probe DEFAULT VALUES`;
      if (i >= 20) ms.push(performance.now() - t0);
    }
    await sql`DROP TABLE bench_commit_probe`;
    const p = percentiles(ms);
    return { p50: Number(p.p50.toFixed(3)), p99: Number(p.p99.toFixed(3)) };
  } finally {
    await sql.end();
  }
}
