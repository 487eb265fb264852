import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import type { Task } from '../../src/queue/task.js';
import { createHeldTasks } from '../../src/worker/held-tasks.js';
import { createLeaseKeeper, type DropReason } from '../../src/worker/lease-keeper.js';
import { useQueueTestApp } from '../helpers/factories.js';

// The lease keeper against the real statements: what a heartbeat drops as no longer this worker's.
const env = useQueueTestApp();

describe('createLeaseKeeper: renewLeases', () => {
  it('drops a waiting task that a rescue gave back and this same worker claimed again under the same attempt number', async () => {
    const workerId = 'stalled-w';
    const [first] = await env.app.deps.queue.enqueueMany([{ name: 'test.record' }, { name: 'test.record' }]);
    // The worker's claim: one into its free slot, one ahead of it; both wait in its line (no slot runs them here).
    const claimed = await claimTasks(env.app.sql, { workerId, limit: 2, queues: [], leaseMs: 30_000, freeSlots: 1 });
    const held = createHeldTasks();
    held.addWaiting(claimed, Date.now());
    const dropped: [Task, DropReason][] = [];
    const keeper = createLeaseKeeper({
      sql: env.app.sql,
      workerId,
      log: pino({ level: 'silent' }),
      held,
      leaseMs: 30_000,
      heartbeatMs: 60_000,
      releaseWaitingAfterMs: 60_000,
      handBack: async () => undefined,
      forgetRunTimeEstimate: () => undefined,
      dropWaiting: (task, reason) => {
        dropped.push([task, reason]);
        held.removeWaiting(task);
      },
    });
    // The worker stalled past its lease: the rescuer took both back (the one ahead given back uncounted) …
    await env.app.sql`UPDATE tasks SET lease_expires_at = now() - interval '1 s' WHERE locked_by = ${workerId}`;
    await env.app.deps.rescuer.runOnce();
    const back = claimed.find((t) => t.id !== first?.id) as Task;
    expect(await env.app.deps.queue.getTask(back.id)).toMatchObject({ status: 'PENDING', attempts: 0 });
    // … and the same worker, back, claims it again: attempt 1 again, a new claim.
    const [again] = await claimTasks(env.app.sql, { workerId, limit: 1, queues: [], leaseMs: 30_000 });
    expect(again).toMatchObject({ id: back.id, attempts: 1, lockedBy: workerId });
    await keeper.renewLeases();
    // Both old copies are dropped: the first's lease is another's (rescued, FAILED), the second's attempt is a newer claim.
    expect(dropped.map(([t, reason]) => [t.id, reason]).sort()).toEqual(claimed.map((t) => [t.id, 'lost']).sort());
    expect(held.waiting).toBe(0);
  });
});
