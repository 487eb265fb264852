import { describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { completeTasks } from '../../src/queue/sql/complete-tasks.js';
import { failTasks } from '../../src/queue/sql/fail-tasks.js';
import { finishCancelledTask } from '../../src/queue/sql/finish-cancelled-task.js';
import { requestCancel } from '../../src/queue/sql/request-cancel.js';
import { rescueTasks } from '../../src/queue/sql/rescue-tasks.js';
import { snoozeTasks } from '../../src/queue/sql/snooze-task.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';

// Every statement that stamps a task more than once reads the clock once (src/queue/sql/clock.ts),
// and logs its event at that reading. Compared in SQL, to the microsecond: two clock_timestamp()
// calls in one row differ now and then, and the event log's own default reading (taken after the
// update) practically always does, so each case fails on a statement that reads the clock per stamp.
const env = useQueueTestApp();
const TTL_MS = 60_000;
const DELAY_MS = 3_600_000;
const ERROR = JSON.stringify({ exceptionType: 'Error', message: 'no', traceback: null, attempt: 1, at: new Date().toISOString(), workerId: 'w' });

interface Stamps {
  status: string;
  /** started_at = last_attempted_at */
  sameStart: boolean | null;
  /** expires_at − finished_at, in ms (exact: microseconds kept) */
  ttlMs: number | null;
  /** run_after − the last event's at, in ms */
  delayMs: number | null;
  /** The last event's at is the stamp this change wrote (finished_at, else last_attempted_at when STARTED). */
  eventAtStamp: boolean | null;
  type: string;
}

/** Each task's stamps beside its last event, in `ids` order. */
async function stampsOf(sql: Sql, ids: readonly string[]): Promise<Stamps[]> {
  const rows = await sql`
    SELECT t.status, t.started_at = t.last_attempted_at AS same_start,
           (extract(epoch FROM t.expires_at - t.finished_at) * 1000)::float8 AS ttl_ms,
           (extract(epoch FROM t.run_after - e.at) * 1000)::float8 AS delay_ms,
           e.at = CASE WHEN e.type = 'STARTED' THEN t.last_attempted_at ELSE t.finished_at END AS event_at_stamp,
           e.type::text AS type
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o)
    JOIN tasks t ON t.id = w.id
    JOIN LATERAL (SELECT at, type FROM task_events WHERE task_id = t.id ORDER BY version DESC LIMIT 1) e ON true
    ORDER BY w.o`;
  return rows as unknown as Stamps[];
}

async function runningTasks(queue: string, count: number, workerId: string): Promise<string[]> {
  const { sql, deps } = env.app;
  const tasks = await deps.queue.enqueueMany(Array.from({ length: count }, () => ({ name: 'test.record', queue, maxAttempts: 2 })));
  expect(await claimTasks(sql, { workerId, limit: count, queues: [queue], leaseMs: TTL_MS })).toHaveLength(count);
  return tasks.map((t) => t.id);
}

describe('one clock reading per change', () => {
  it('a claim stamps startedAt, lastAttemptedAt and its STARTED event alike, by the function and by the statement', async () => {
    const { sql, deps } = env.app;
    // A worker of every queue claims through taskwire_claim; a worker of some queues by the statement.
    const byFunction = await deps.queue.enqueueMany(Array.from({ length: 50 }, () => ({ name: 'test.record', queue: 'clk-any' })));
    expect(await claimTasks(sql, { workerId: 'w-any', limit: 50, queues: [], leaseMs: TTL_MS })).toHaveLength(50);
    const byStatement = await runningTasks('clk-some', 50, 'w-some');
    for (const ids of [byFunction.map((t) => t.id), byStatement]) {
      const stamps = await stampsOf(sql, ids);
      expect(stamps.filter((s) => !(s.type === 'STARTED' && s.sameStart && s.eventAtStamp))).toEqual([]);
    }
  });

  it('a batch of successes: expiresAt is finishedAt + the TTL exactly, the SUCCEEDED event at finishedAt', async () => {
    const { sql } = env.app;
    const ids = await runningTasks('clk-done', 100, 'w-done');
    expect(await completeTasks(sql, 'w-done', ids.map((id) => ({ id, attempt: 1, returnValue: 'null' })), TTL_MS)).toHaveLength(100);
    const stamps = await stampsOf(sql, ids);
    expect(stamps.filter((s) => !(s.type === 'SUCCEEDED' && s.ttlMs === TTL_MS && s.eventAtStamp))).toEqual([]);
  });

  it('a failure: FAILED and its event at one instant, a retry due exactly its delay after its event', async () => {
    const { sql } = env.app;
    const [last, again] = await runningTasks('clk-fail', 2, 'w-fail');
    await failTasks(sql, 'w-fail', [{ id: last!, attempt: 1, error: ERROR, retryDelayMs: null }], TTL_MS);
    await failTasks(sql, 'w-fail', [{ id: again!, attempt: 1, error: ERROR, retryDelayMs: DELAY_MS }], TTL_MS);
    expect(await stampsOf(sql, [last!, again!])).toMatchObject([
      { status: 'FAILED', type: 'FAILED', ttlMs: TTL_MS, eventAtStamp: true },
      { status: 'RETRYING', type: 'RETRY_SCHEDULED', delayMs: DELAY_MS },
    ]);
  });

  it('a cancellation, of waiting tasks and of a running one that stopped', async () => {
    const { sql } = env.app;
    const waiting = await Promise.all([0, 1, 2].map(() => insertTask(sql, { queue: 'clk-cancel' })));
    for (const t of waiting) await requestCancel(sql, { id: t.id, defaultTtlMs: TTL_MS });
    const [running] = await runningTasks('clk-cancel-run', 1, 'w-cancel');
    await requestCancel(sql, { id: running!, defaultTtlMs: TTL_MS });
    await finishCancelledTask(sql, { id: running!, attempt: 1, workerId: 'w-cancel', error: null, defaultTtlMs: TTL_MS });
    const stamps = await stampsOf(sql, [...waiting.map((t) => t.id), running!]);
    expect(stamps.filter((s) => !(s.type === 'CANCELLED' && s.ttlMs === TTL_MS && s.eventAtStamp))).toEqual([]);
  });

  it('a snooze is due exactly its delay after its event; a snooze after a cancellation request ends at one instant', async () => {
    const { sql } = env.app;
    const [snoozed, cancelled] = await runningTasks('clk-snooze', 2, 'w-snooze');
    await requestCancel(sql, { id: cancelled!, defaultTtlMs: TTL_MS });
    await snoozeTasks(sql, 'w-snooze', [snoozed!, cancelled!].map((id) => ({ id, attempt: 1, delayMs: DELAY_MS })), TTL_MS);
    expect(await stampsOf(sql, [snoozed!, cancelled!])).toMatchObject([
      { status: 'PENDING', type: 'SNOOZED', delayMs: DELAY_MS },
      { status: 'CANCELLED', type: 'CANCELLED', ttlMs: TTL_MS, eventAtStamp: true },
    ]);
  });

  it('a rescue: the retry due exactly its backoff after its event, the last attempt FAILED at one instant', async () => {
    const { sql } = env.app;
    const backoff = { baseMs: DELAY_MS, maxMs: DELAY_MS, factor: 1, jitter: 0 };
    const retried = await insertTask(sql, { status: 'RUNNING', queue: 'clk-rescue', leaseMs: -1000, maxAttempts: 2, backoff });
    const failed = await insertTask(sql, { status: 'RUNNING', queue: 'clk-rescue', leaseMs: -1000, maxAttempts: 1 });
    const rescued = await rescueTasks(sql, { now: null, limit: 100, defaultTtlMs: TTL_MS });
    expect(rescued.map((t) => t.id).sort()).toEqual([retried.id, failed.id].sort());
    expect(await stampsOf(sql, [retried.id, failed.id])).toMatchObject([
      { status: 'RETRYING', type: 'RESCUED', delayMs: DELAY_MS },
      { status: 'FAILED', type: 'RESCUED', ttlMs: TTL_MS, eventAtStamp: true },
    ]);
  });
});
