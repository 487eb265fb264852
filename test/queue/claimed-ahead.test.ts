import { beforeEach, describe, expect, it } from 'vitest';
import { claimLimitedTasks } from '../../src/queue/queue-control/index.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { extendLeases } from '../../src/queue/sql/extend-leases.js';
import type { Task } from '../../src/queue/task.js';
import { useQueueTestApp } from '../helpers/factories.js';

// Tasks claimed ahead of a worker's free slots (docs/decisions.md "Claiming ahead"): every claim
// path marks those beyond its free slots, the heartbeat clears the mark of those the worker started,
// and the rescuer gives back those a lost worker never started, their attempt not counted.
const env = useQueueTestApp();
const LEASE_MS = 30_000;

/** Every running task's worker looks lost: its lease ran out a second ago (the rescuer's clock stays real). */
async function expireLeases(): Promise<void> {
  await env.app.sql`UPDATE tasks SET lease_expires_at = now() - interval '1 s' WHERE status = 'RUNNING'`;
}

beforeEach(async () => {
  await env.app.sql`DELETE FROM tasks`;
  await env.app.sql`DELETE FROM queues`;
});

/** Which tasks carry the mark of their current attempt (claimed_ahead_at = last_attempted_at), by id. */
async function marked(ids: readonly string[]): Promise<Record<string, boolean>> {
  const rows = await env.app.sql`
    SELECT id, coalesce(claimed_ahead_at = last_attempted_at, false) AS ahead FROM tasks WHERE id = ANY(${ids as string[]}::uuid[])`;
  return Object.fromEntries(rows.map((r) => [String(r.id), Boolean(r.ahead)]));
}

/** `count` tasks of `queue`, of falling priority: their claim order is their order here. */
async function enqueueInOrder(count: number, queue = 'default', extra: { concurrencyKey?: string } = {}): Promise<Task[]> {
  return env.app.deps.queue.enqueueMany(Array.from({ length: count }, (_, i) => ({ name: 'test.record', queue, priority: 50 - i, maxAttempts: 1, ...extra })));
}

function expectMarks(got: Record<string, boolean>, tasks: readonly Task[], startNow: number): void {
  expect(tasks.map((t) => got[t.id])).toEqual(tasks.map((_, i) => i >= startNow));
}

describe('claimTasks / claimLimitedTasks: claimed_ahead_at', () => {
  it('a claim into free slots only marks nothing, on every claim path', async () => {
    const all = await enqueueInOrder(3);
    const named = await enqueueInOrder(3, 'named');
    await env.app.sql`INSERT INTO queues (name, concurrency) VALUES ('limited', 100)`;
    const limited = await enqueueInOrder(3, 'limited');
    // taskwire_claim (a worker of every queue, nothing held), with free slots said and by default.
    expect(await claimTasks(env.app.sql, { workerId: 'w', limit: 2, queues: ['default'], leaseMs: LEASE_MS, freeSlots: 2 })).toHaveLength(2);
    expect(await claimTasks(env.app.sql, { workerId: 'w', limit: 3, queues: ['named'], leaseMs: LEASE_MS })).toHaveLength(3);
    expect((await claimLimitedTasks(env.app.sql, { workerId: 'w', limit: 3, queue: 'limited', leaseMs: LEASE_MS, freeSlots: 5 })).tasks).toHaveLength(3);
    await env.app.sql`DELETE FROM queues`;
    expect(await claimTasks(env.app.sql, { workerId: 'w', limit: 1, queues: [], leaseMs: LEASE_MS, freeSlots: 1 })).toHaveLength(1);
    const got = await marked([...all, ...named, ...limited].map((t) => t.id));
    expect(Object.values(got)).toEqual(Array(9).fill(false));
  });

  it('marks the tasks after the first freeSlots in claim order, on every claim path', async () => {
    const all = await enqueueInOrder(5);
    expect(await claimTasks(env.app.sql, { workerId: 'w', limit: 5, queues: [], leaseMs: LEASE_MS, freeSlots: 2 })).toHaveLength(5);
    expectMarks(await marked(all.map((t) => t.id)), all, 2);

    const named = await enqueueInOrder(4, 'named');
    expect(await claimTasks(env.app.sql, { workerId: 'w', limit: 4, queues: ['named'], leaseMs: LEASE_MS, freeSlots: 1 })).toHaveLength(4);
    expectMarks(await marked(named.map((t) => t.id)), named, 1);

    // A worker of every queue while some queue is held: the statement of claim-tasks.ts, not the function.
    const held = await enqueueInOrder(4, 'other');
    await env.app.sql`INSERT INTO queues (name, paused) VALUES ('paused-q', true)`;
    expect(await claimTasks(env.app.sql, { workerId: 'w', limit: 4, queues: [], leaseMs: LEASE_MS, freeSlots: 0, someHeld: true })).toHaveLength(4);
    expectMarks(await marked(held.map((t) => t.id)), held, 0);

    await env.app.sql`INSERT INTO queues (name, concurrency) VALUES ('limited', 100)`;
    const limited = await enqueueInOrder(4, 'limited');
    expect((await claimLimitedTasks(env.app.sql, { workerId: 'w', limit: 4, queue: 'limited', leaseMs: LEASE_MS, freeSlots: 3 })).tasks).toHaveLength(4);
    expectMarks(await marked(limited.map((t) => t.id)), limited, 3);

    await env.app.sql`INSERT INTO queues (name, per_key_concurrency) VALUES ('per-key', 10)`;
    const perKey = await enqueueInOrder(4, 'per-key', { concurrencyKey: 'k' });
    expect((await claimLimitedTasks(env.app.sql, { workerId: 'w', limit: 4, queue: 'per-key', leaseMs: LEASE_MS, freeSlots: 2 })).tasks).toHaveLength(4);
    expectMarks(await marked(perKey.map((t) => t.id)), perKey, 2);
  });
});

describe('extendLeases', () => {
  it('clears the mark of the tasks the worker says it started, and keeps that of those still waiting', async () => {
    const tasks = await enqueueInOrder(3);
    await claimTasks(env.app.sql, { workerId: 'w', limit: 3, queues: [], leaseMs: LEASE_MS, freeSlots: 1 });
    const [first, second, third] = tasks.map((t) => t.id) as [string, string, string];
    const states = await extendLeases(env.app.sql, { workerId: 'w', ids: [third], started: [first, second], leaseMs: LEASE_MS });
    expect(states.map((s) => s.id).sort()).toEqual([first, second, third].sort());
    expect(await marked([first, second, third])).toEqual({ [first]: false, [second]: false, [third]: true });
  });
});

describe('rescueTasks: tasks claimed ahead', () => {
  it('gives back what a lost worker never started (PENDING, attempt not counted, RELEASED) and fails what it started', async () => {
    const tasks = await enqueueInOrder(4);
    const ids = tasks.map((t) => t.id);
    const [started, startedFromAhead, waiting1, waiting2] = ids as [string, string, string, string];
    // One free slot: the first starts at once; the second was claimed ahead and started since (a heartbeat said so).
    await claimTasks(env.app.sql, { workerId: 'lost-w', limit: 4, queues: [], leaseMs: LEASE_MS, freeSlots: 1 });
    await extendLeases(env.app.sql, { workerId: 'lost-w', ids: [waiting1, waiting2], started: [started, startedFromAhead], leaseMs: LEASE_MS });

    await expireLeases();
    const rescued = await env.app.deps.rescuer.runOnce();
    expect(rescued.map((t) => t.id).sort()).toEqual([...ids].sort());
    for (const id of [started, startedFromAhead]) {
      const task = await env.app.deps.queue.getTask(id);
      expect(task).toMatchObject({ status: 'FAILED', attempts: 1, workerIds: ['lost-w'] });
      expect(task?.errors.map((e) => e.exceptionType)).toEqual(['WorkerLost']);
    }
    for (const id of [waiting1, waiting2]) {
      const task = await env.app.deps.queue.getTask(id);
      expect(task).toMatchObject({ status: 'PENDING', attempts: 0, maxAttempts: 1, workerIds: [], errors: [], lockedBy: null, leaseExpiresAt: null, startedAt: null, version: 3 });
      const events = await env.app.sql`SELECT version, type, status, attempt, worker_id, error FROM task_events WHERE task_id = ${id} ORDER BY version`;
      expect(events.map((e) => [e.version, e.type, e.status, e.attempt, e.workerId, e.error])).toEqual([
        [1, 'ENQUEUED', 'PENDING', 0, null, null],
        [2, 'STARTED', 'RUNNING', 1, 'lost-w', null],
        [3, 'RELEASED', 'PENDING', 1, 'lost-w', null],
      ]);
    }
    // Runnable again, with its one attempt: the next claim takes both, into free slots, and counts them.
    const again = await claimTasks(env.app.sql, { workerId: 'next-w', limit: 10, queues: [], leaseMs: LEASE_MS, freeSlots: 10 });
    expect(again.map((t) => [t.id, t.attempts, t.workerIds])).toEqual([
      [waiting1, 1, ['next-w']],
      [waiting2, 1, ['next-w']],
    ]);
  });

  it('gives a task back uncounted once only: claimed ahead and lost again, it counts (a poison task cannot run uncounted for ever)', async () => {
    const [task] = await enqueueInOrder(1);
    const id = (task as Task).id;
    await claimTasks(env.app.sql, { workerId: 'w1', limit: 1, queues: [], leaseMs: LEASE_MS, freeSlots: 0 });
    await expireLeases();
    await env.app.deps.rescuer.runOnce();
    expect(await env.app.deps.queue.getTask(id)).toMatchObject({ status: 'PENDING', attempts: 0 });
    // Claimed ahead again, and its worker lost before a heartbeat again: as if it had killed it.
    await claimTasks(env.app.sql, { workerId: 'w2', limit: 1, queues: [], leaseMs: LEASE_MS, freeSlots: 0 });
    expect(await marked([id])).toEqual({ [id]: true });
    await expireLeases();
    await env.app.deps.rescuer.runOnce();
    const failed = await env.app.deps.queue.getTask(id);
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 1, workerIds: ['w2'] });
    expect(failed?.errors.map((e) => [e.exceptionType, e.workerId])).toEqual([['WorkerLost', 'w2']]);
  });

  it('gives back a task with earlier attempts as RETRYING, due as it was, and counts a claimed-ahead task whose cancellation was asked for', async () => {
    const [retried, cancelled] = await enqueueInOrder(2);
    const retriedId = (retried as Task).id;
    const cancelledId = (cancelled as Task).id;
    await env.app.sql`UPDATE tasks SET max_attempts = 3 WHERE id = ${retriedId}`;
    await claimTasks(env.app.sql, { workerId: 'w1', limit: 1, queues: [], leaseMs: LEASE_MS, freeSlots: 1 });
    // First attempt lost after it started: RETRYING with a WorkerLost error; made due at once for the next claim.
    await expireLeases();
    await env.app.deps.rescuer.runOnce();
    await env.app.sql`UPDATE tasks SET run_after = now() - interval '1 s' WHERE id = ${retriedId}`;
    await claimTasks(env.app.sql, { workerId: 'w2', limit: 2, queues: [], leaseMs: LEASE_MS, freeSlots: 0 });
    await env.app.deps.queue.cancelTask(cancelledId);
    await expireLeases();
    const due = (await env.app.deps.queue.getTask(retriedId))?.runAfter.getTime();
    await env.app.deps.rescuer.runOnce();
    const back = await env.app.deps.queue.getTask(retriedId);
    expect(back).toMatchObject({ status: 'RETRYING', attempts: 1, workerIds: ['w1'], lockedBy: null });
    expect(back?.errors.map((e) => [e.exceptionType, e.attempt])).toEqual([['WorkerLost', 1]]);
    // Due now, in its old place: its wait is counted from when it first became due, not restarted.
    expect(back?.runAfter.getTime()).toBe(due);
    expect(back?.runAfter.getTime()).toBeLessThanOrEqual(Date.now());
    expect(await env.app.deps.queue.getTask(cancelledId)).toMatchObject({ status: 'CANCELLED', attempts: 1 });
  });
});
