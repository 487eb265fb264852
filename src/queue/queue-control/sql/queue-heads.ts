import type { Executor } from '../../../db/client.js';
import { listedQueues } from '../../sql/claim-tasks.js';

/** A queue's first due task in claim order: priority (higher first), then runAfter, then id. */
export interface QueueHead {
  priority: number;
  runAfter: Date;
  id: string;
}

/**
 * The head of each of `queues` (every queue with a waiting task when empty) that has a due task,
 * read without a lock: what a claim would take first from each. The claim loop orders its
 * statements by them (src/worker/claim-loop.ts). One probe of tasks_queue_claim_idx per queue
 * (the queues themselves by the same skip scan as claimTasks'); a head that is claimed meanwhile
 * only makes the order a claim late.
 */
export async function readQueueHeads(exec: Executor, queues: readonly string[]): Promise<Map<string, QueueHead>> {
  const rows = await exec<Array<{ queue: string; priority: number; runAfter: Date; id: string }>>`
    WITH RECURSIVE ${listedQueues(exec, queues)}
    SELECT w.q AS queue, h.priority, h.run_after, h.id
    FROM listed w
    CROSS JOIN LATERAL (
      SELECT t.priority, t.run_after, t.id FROM tasks t
      WHERE t.queue = w.q AND t.status IN ('PENDING', 'RETRYING') AND t.run_after <= now()
      ORDER BY t.queue, t.priority DESC NULLS LAST, t.run_after, t.id
      LIMIT 1
    ) h
    WHERE w.q IS NOT NULL`;
  return new Map(rows.map((row) => [row.queue, { priority: row.priority, runAfter: row.runAfter, id: row.id }]));
}

/** Whether head `a` comes before head `b` in claim order. */
export function comesFirst(a: QueueHead, b: QueueHead): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  const at = a.runAfter.getTime() - b.runAfter.getTime();
  return at !== 0 ? at < 0 : a.id < b.id;
}
