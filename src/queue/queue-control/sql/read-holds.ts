import type { Executor } from '../../../db/client.js';

/** What holds the waiting tasks of one queue now (see waitReasons). */
export interface QueueHolds {
  paused: boolean;
  /** RUNNING count ≥ concurrency. */
  concurrencyFull: boolean;
  /** The current rate window is used up. */
  rateFull: boolean;
  perKeyConcurrency: number | null;
  /** RUNNING tasks per key asked about. */
  runningByKey: Map<string, number>;
}

/**
 * One read for a batch of tasks: the settings of their queues, each limited queue's RUNNING
 * count and the RUNNING count of each (queue, key) asked about, all through
 * tasks_running_queue_key_idx, and the database's time. Queues without settings are absent
 * (nothing holds them).
 */
export async function readHolds(
  exec: Executor,
  queues: readonly string[],
  keys: readonly { queue: string; key: string }[],
): Promise<{ holds: Map<string, QueueHolds>; now: Date }> {
  if (queues.length === 0) return { holds: new Map(), now: new Date() };
  // One row at least (the join keeps it when no queue has settings): the database's time, which a
  // task's runAfter is judged by (a server's own clock minutes off called a due task SCHEDULED).
  const rows = await exec`
    SELECT clock_timestamp() AS db_now, q.name, q.paused, q.per_key_concurrency,
           q.concurrency IS NOT NULL AND
             (SELECT count(*) FROM tasks t WHERE t.queue = q.name AND t.status = 'RUNNING') >= q.concurrency AS concurrency_full,
           q.rate_max IS NOT NULL AND q.rate_window = floor(extract(epoch FROM clock_timestamp()) * 1000 / q.rate_per_ms)::bigint
             AND q.rate_count >= q.rate_max AS rate_full,
           (SELECT coalesce(jsonb_object_agg(k.key, (SELECT count(*) FROM tasks t
                      WHERE t.queue = q.name AND t.concurrency_key = k.key AND t.status = 'RUNNING')), '{}')
            FROM unnest(${keys.map((k) => k.queue)}::text[], ${keys.map((k) => k.key)}::text[]) AS k(queue, key)
            WHERE k.queue = q.name AND q.per_key_concurrency IS NOT NULL) AS running_by_key
    FROM (SELECT) AS one LEFT JOIN queues q ON q.name = ANY(${queues as string[]}::text[])`;
  const holds = new Map<string, QueueHolds>();
  for (const row of rows) {
    if (row.name === null) continue;
    const byKey = (row.runningByKey ?? {}) as Record<string, number>;
    holds.set(String(row.name), {
      paused: row.paused === true,
      concurrencyFull: row.concurrencyFull === true,
      rateFull: row.rateFull === true,
      perKeyConcurrency: (row.perKeyConcurrency as number | null) ?? null,
      runningByKey: new Map(Object.entries(byKey).map(([k, n]) => [k, Number(n)])),
    });
  }
  return { holds, now: (rows[0]?.dbNow as Date | undefined) ?? new Date() };
}
