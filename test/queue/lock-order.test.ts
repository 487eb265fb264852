import { afterEach, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/db/client.js';
import { processBulkBatch } from '../../src/queue/bulk-actions/sql/process-bulk-batch.js';
import { appendOutput } from '../../src/queue/sql/append-output.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { completeTasks } from '../../src/queue/sql/complete-tasks.js';
import { extendLeases } from '../../src/queue/sql/extend-leases.js';
import { releaseTasks } from '../../src/queue/sql/release-tasks.js';
import type { Task } from '../../src/queue/task.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';
import { useLockContention } from '../helpers/lock-contention.js';

// Every statement that locks several task rows takes them in id order (docs/decisions.md "One lock
// order for task rows"): two of them sharing rows then wait for each other, they never deadlock.
// Each case makes the interleaving that deadlocked before: a third transaction holds one of the rows,
// the first statement queues for it, the second locks what it can and queues too; when the holder
// commits, statements taking the rows in two orders wait for each other (40P01 after
// deadlock_timeout), statements taking them in one order finish one after the other.
const env = useQueueTestApp();
const WORKER = 'w-lock-order';
const LEASE_MS = 60_000;

const { contend: contendFor } = useLockContention(() => env.app.sql);

afterEach(async () => {
  await env.app.sql`DELETE FROM tasks`;
});

/** Two tasks claimed by WORKER, lower id first; `freeSlots` 1 claims the second ahead (waiting for a slot). */
async function twoRunning(freeSlots = 2): Promise<[Task, Task]> {
  const sql = env.app.sql;
  await insertTask(sql, {});
  await insertTask(sql, {});
  const claimed = await claimTasks(sql, { workerId: WORKER, limit: 2, queues: [], leaseMs: LEASE_MS, freeSlots });
  const [lo, hi] = [...claimed].sort((a, b) => (a.id < b.id ? -1 : 1));
  if (!lo || !hi) throw new Error('claimed fewer than two tasks');
  return [lo, hi];
}

/** Holds task `heldId`'s row while `first` and then `second` queue for it (test/helpers/lock-contention.ts). */
const contend = (heldId: string, first: (c: Executor) => Promise<unknown>, second: (c: Executor) => Promise<unknown>): Promise<void> =>
  contendFor((holder) => holder`SELECT 1 FROM tasks WHERE id = ${heldId} FOR UPDATE`, first, second);

describe('statements locking several tasks take them in id order', () => {
  it("a worker's output of several tasks and its heartbeat renewing their leases", async () => {
    const [lo, hi] = await twoRunning();
    // Output of hi arrived first: the batch lists it first.
    const appends = [hi, lo].map((t) => ({ id: t.id, attempt: 1, chunks: ['"x"'], truncated: false }));
    await contend(
      hi.id,
      (c) => appendOutput(c, WORKER, appends),
      (c) => extendLeases(c, { workerId: WORKER, ids: [], started: [lo.id, hi.id], leaseMs: LEASE_MS }),
    );
    const rows = await env.app.sql`SELECT version FROM tasks ORDER BY id`;
    expect(rows.map((r) => r.version)).toEqual([lo.version + 1, hi.version + 1]);
  });

  it('a heartbeat of a started task and a task waiting for a slot, and a bulk cancel of both', async () => {
    // lo starts, hi waits for a slot (claimed ahead): the heartbeat lists hi as waiting, lo as started.
    const [lo, hi] = await twoRunning(1);
    const action = await env.app.deps.queue.bulkActions.create('CANCEL', { status: ['RUNNING'] });
    await contend(
      lo.id,
      (c) => processBulkBatch(c, { actionId: action.id, kind: 'CANCEL', limit: 100, defaultTtlMs: 60_000 }),
      (c) => extendLeases(c, { workerId: WORKER, ids: [hi.id], started: [lo.id], leaseMs: LEASE_MS }),
    );
    const rows = await env.app.sql`SELECT cancel_requested, claimed_ahead_at FROM tasks ORDER BY id`;
    expect(rows.map((r) => [r.cancelRequested, r.claimedAheadAt === null])).toEqual([[true, true], [true, false]]);
  });

  it("a worker's completions and a bulk cancel of the same tasks, their rows out of id order in the table", async () => {
    const [lo, hi] = await twoRunning();
    // lo's row is written again (a heartbeat of it alone): its newest version now lies after hi's,
    // and a scan of the table meets hi first.
    await extendLeases(env.app.sql, { workerId: WORKER, ids: [], started: [lo.id], leaseMs: LEASE_MS });
    const action = await env.app.deps.queue.bulkActions.create('CANCEL', { status: ['RUNNING'] });
    const completions = [lo, hi].map((t) => ({ id: t.id, attempt: 1, returnValue: '1' }));
    await contend(
      hi.id,
      (c) => processBulkBatch(c, { actionId: action.id, kind: 'CANCEL', limit: 100, defaultTtlMs: 60_000 }),
      (c) => completeTasks(c, WORKER, completions, 60_000),
    );
    const rows = await env.app.sql`SELECT status, cancel_requested FROM tasks ORDER BY id`;
    expect(rows.map((r) => [r.status, r.cancelRequested])).toEqual([['SUCCEEDED', true], ['SUCCEEDED', true]]);
  });

  it.each(['heartbeat', 'bulk cancel'] as const)("a worker's completions listed as they finished, out of id order, and a %s of the same tasks", async (other) => {
    const [lo, hi] = await twoRunning();
    // hi finished first: the batch lists it first (drizzle/0042's taskwire_complete took rows in the batch's order).
    const completions = [hi, lo].map((t) => ({ id: t.id, attempt: 1, returnValue: '1' }));
    const action = other === 'bulk cancel' ? await env.app.deps.queue.bulkActions.create('CANCEL', { status: ['RUNNING'] }) : undefined;
    await contend(
      lo.id,
      (c) =>
        action
          ? processBulkBatch(c, { actionId: action.id, kind: 'CANCEL', limit: 100, defaultTtlMs: 60_000 })
          : extendLeases(c, { workerId: WORKER, ids: [], started: [lo.id, hi.id], leaseMs: LEASE_MS }),
      (c) => completeTasks(c, WORKER, completions, 60_000),
    );
    const rows = await env.app.sql`SELECT status, return_value_json::text AS result FROM tasks ORDER BY id`;
    expect(rows.map((r) => [r.status, r.result])).toEqual([['SUCCEEDED', '1'], ['SUCCEEDED', '1']]);
  });

  it("a worker's release of its tasks at shutdown, listed out of id order, and a bulk cancel of them", async () => {
    // 50 tasks: PostgreSQL then hashes the tasks and walks the worker's list (Hash Right Semi Join),
    // so the update alone meets the rows in the list's order.
    for (let i = 0; i < 50; i++) await insertTask(env.app.sql, {});
    const claimed = await claimTasks(env.app.sql, { workerId: WORKER, limit: 50, queues: [], leaseMs: LEASE_MS });
    const desc = claimed.map((t) => t.id).sort().reverse();
    const action = await env.app.deps.queue.bulkActions.create('CANCEL', { status: ['RUNNING'] });
    await contend(
      desc[0] as string,
      (c) => releaseTasks(c, { workerId: WORKER, attempts: desc.map((id) => ({ id, attempt: 1 })), defaultTtlMs: 60_000 }),
      (c) => processBulkBatch(c, { actionId: action.id, kind: 'CANCEL', limit: 100, defaultTtlMs: 60_000 }),
    );
    const rows = await env.app.sql`SELECT DISTINCT status FROM tasks`;
    expect(rows.map((r) => r.status)).toEqual(['CANCELLED']);
  });
});
