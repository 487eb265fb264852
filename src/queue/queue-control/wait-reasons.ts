import type { Executor } from '../../db/client.js';
import { readHolds } from './sql/read-holds.js';
import type { WaitingTask, WaitReason } from './types.js';

/**
 * Why each task has not started, read now in one query (docs/flow-control.md "waitReason").
 * Exact for the moment of the read, not a promise: a task QUEUE_PAUSED or at a limit may start
 * a millisecond later, and one with no reason may simply be next in line. Precedence: BLOCKED,
 * SCHEDULED, QUEUE_PAUSED, KEY_LIMIT, CONCURRENCY_LIMIT, RATE_LIMIT; null for tasks that are
 * not waiting (RUNNING or finished) and for waiting ones nothing holds back but their turn.
 */
export async function waitReasons(exec: Executor, tasks: readonly WaitingTask[], at?: Date): Promise<(WaitReason | null)[]> {
  const waiting = tasks.filter((t) => t.status === 'PENDING' || t.status === 'RETRYING');
  const queues = [...new Set(waiting.map((t) => t.queue))];
  const keyList = new Map<string, { queue: string; key: string }>();
  for (const t of waiting) if (t.concurrencyKey !== null) keyList.set(`${t.queue}\u0000${t.concurrencyKey}`, { queue: t.queue, key: t.concurrencyKey });
  const read = await readHolds(exec, queues, [...keyList.values()]);
  const { holds } = read;
  // The database's time unless a test names one: runAfter is the database's.
  const now = at ?? read.now;
  return tasks.map((t): WaitReason | null => {
    if (t.status === 'BLOCKED') return 'BLOCKED';
    if (t.status !== 'PENDING' && t.status !== 'RETRYING') return null;
    if (t.runAfter.getTime() > now.getTime()) return 'SCHEDULED';
    const h = holds.get(t.queue);
    if (!h) return null;
    if (h.paused) return 'QUEUE_PAUSED';
    if (h.perKeyConcurrency !== null && t.concurrencyKey !== null && (h.runningByKey.get(t.concurrencyKey) ?? 0) >= h.perKeyConcurrency) return 'KEY_LIMIT';
    if (h.concurrencyFull) return 'CONCURRENCY_LIMIT';
    if (h.rateFull) return 'RATE_LIMIT';
    return null;
  });
}
