import type { Sql } from '../../src/db/client.js';

/**
 * Inserts `count` tasks in one statement (generate_series), ids uuid v7-shaped and in order,
 * for bulk-action tests that need thousands of rows fast. FAILED/CANCELLED ones look finished
 * after one attempt; their event logs are empty (version 3), so the first event a retry or
 * cancel writes is version 4.
 */
export async function insertBulkTasks(
  sql: Sql,
  p: { count: number; status: 'FAILED' | 'CANCELLED' | 'PENDING' | 'SUCCEEDED'; name?: string; queue?: string; tenant?: string; runAfter?: Date },
): Promise<void> {
  const finished = p.status === 'PENDING' ? null : new Date();
  await sql`
    INSERT INTO tasks (id, name, queue, status, version, attempts, max_attempts, run_after, finished_at, tenant)
    SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
            || '7' || lpad(to_hex(g % 4096), 3, '0') || '8' || lpad(to_hex(g), 7, '0') || substr(md5(random()::text), 1, 8))::uuid,
           ${p.name ?? 'demo.echo'}, ${p.queue ?? 'default'}, ${p.status}::task_status,
           ${p.status === 'PENDING' ? 1 : 3}, ${p.status === 'PENDING' ? 0 : 1}, 1,
           coalesce(${p.runAfter ?? null}::timestamptz, now()), ${finished}, ${p.tenant ?? 'default'}
    FROM generate_series(1, ${p.count}) AS g`;
}
