import type { Executor } from '../../src/db/client.js';
import { expect } from 'vitest';

/**
 * The event log's invariant, for every task in the database: its events are versions
 * 1..version with no gap and no repeat (the primary key forbids repeats), the first is
 * ENQUEUED, and the last one's status is the task's status.
 */
export async function expectCompleteLogs(exec: Executor): Promise<void> {
  const broken = await exec`
    SELECT t.id, t.version, t.status, count(e.version)::int AS events, min(e.version) AS first, max(e.version) AS last,
           (SELECT e2.status FROM task_events e2 WHERE e2.task_id = t.id ORDER BY e2.version DESC LIMIT 1) AS last_status,
           (SELECT e3.type FROM task_events e3 WHERE e3.task_id = t.id AND e3.version = 1) AS first_type
    FROM tasks t LEFT JOIN task_events e ON e.task_id = t.id
    GROUP BY t.id
    HAVING count(e.version) <> t.version OR min(e.version) <> 1 OR max(e.version) <> t.version
        OR (SELECT e2.status FROM task_events e2 WHERE e2.task_id = t.id ORDER BY e2.version DESC LIMIT 1) <> t.status
        OR (SELECT e3.type FROM task_events e3 WHERE e3.task_id = t.id AND e3.version = 1) <> 'ENQUEUED'`;
  expect(broken).toEqual([]);
  await expectFeedOrderedLogs(exec);
}

/**
 * The feed's order of each task's log, for every task in the database: its events' tx never goes down
 * from one version to the next (the feed orders by (tx, seq), so a task's versions come in version
 * order), and the task's last_event_tx is its latest event's (a statement that writes an event without
 * setting it would leave the next one free to sort before: src/queue/events.ts). Rows from before
 * drizzle/0041 (last_event_tx NULL) and rows a test wrote without events are left out.
 */
export async function expectFeedOrderedLogs(exec: Executor): Promise<void> {
  const backwards = await exec`
    SELECT task_id, version FROM (
      SELECT task_id, version, tx, lag(tx) OVER (PARTITION BY task_id ORDER BY version) AS previous FROM task_events
    ) e WHERE tx < previous`;
  expect(backwards).toEqual([]);
  const unset = await exec`
    SELECT t.id, t.version, t.last_event_tx::text, (SELECT e.tx::text FROM task_events e WHERE e.task_id = t.id ORDER BY e.version DESC LIMIT 1) AS last
    FROM tasks t
    WHERE t.last_event_tx IS NOT NULL AND EXISTS (SELECT 1 FROM task_events e WHERE e.task_id = t.id)
      AND t.last_event_tx IS DISTINCT FROM (SELECT e.tx FROM task_events e WHERE e.task_id = t.id ORDER BY e.version DESC LIMIT 1)`;
  expect(unset).toEqual([]);
}

/** One task's log as [version, type, status] triples, oldest first. */
export async function logOf(exec: Executor, id: string): Promise<[number, string, string][]> {
  const rows = await exec`SELECT version, type, status FROM task_events WHERE task_id = ${id} ORDER BY version`;
  return rows.map((r) => [Number(r.version), String(r.type), String(r.status)]);
}
