import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import type { Task } from '../../src/queue/task.js';
import { createHeldTasks } from '../../src/worker/held-tasks.js';
import { createLeaseKeeper, type DropReason, type LeaseKeeperOptions } from '../../src/worker/lease-keeper.js';
import { useQueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// The lease keeper against the real statements: what a heartbeat drops as no longer this worker's, and
// which cancel notices it acts on.
const env = useQueueTestApp();

/** A keeper over `held` (worker `w-claiming` unless overridden) whose worker has a claim under way while `claim.underWay`; its log lines are kept. */
function keeperFor(held: ReturnType<typeof createHeldTasks>, claim: { underWay: boolean }, overrides: Partial<LeaseKeeperOptions> = {}) {
  const raw: string[] = [];
  const keeper = createLeaseKeeper({
    sql: env.app.sql,
    workerId: 'w-claiming',
    log: pino({ level: 'warn' }, { write: (line: string) => void raw.push(line) }),
    held,
    leaseMs: 30_000,
    heartbeatMs: 60_000,
    releaseWaitingAfterMs: 60_000,
    handBack: async () => undefined,
    forgetRunTimeEstimate: () => undefined,
    dropWaiting: () => undefined,
    claiming: () => claim.underWay,
    ...overrides,
  });
  return { keeper, messages: () => raw.map((l) => String((JSON.parse(l) as { msg: unknown }).msg)) };
}

describe('createLeaseKeeper: renewLeases', () => {
  it('drops a waiting task that a rescue gave back and this same worker claimed again under the same attempt number', async () => {
    const workerId = 'stalled-w';
    const [first] = await env.app.deps.queue.enqueueMany([{ name: 'test.record' }, { name: 'test.record' }]);
    // The worker's claim: one into its free slot, one ahead of it; both wait in its line (no slot runs them here).
    const claimed = await claimTasks(env.app.sql, { workerId, limit: 2, queues: [], leaseMs: 30_000, freeSlots: 1 });
    const held = createHeldTasks();
    held.addWaiting(claimed, Date.now());
    const dropped: [Task, DropReason][] = [];
    const { keeper } = keeperFor(held, { underWay: false }, {
      workerId,
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

describe('createLeaseKeeper: routeCancel', () => {
  // The claim commits before its answer reaches the worker: on a busy machine a cancel (real, or
  // anyone's NOTIFY) can be read and acted on by others in between, and its notice arrive first.
  it('acts on a cancel notice that came while the claim that took the task was still under way', async () => {
    const [task] = await env.app.deps.queue.enqueueMany([{ name: 'test.block' }]);
    const claim = { underWay: true };
    const held = createHeldTasks();
    const { keeper } = keeperFor(held, claim);
    const [claimed] = await claimTasks(env.app.sql, { workerId: 'w-claiming', limit: 1, queues: [], leaseMs: 30_000 });
    expect(claimed?.id).toBe(task?.id);
    await env.app.deps.queue.cancelTask(task?.id as string);
    keeper.routeCancel(task?.id as string); // not held yet: its claim has not answered
    claim.underWay = false;
    const attempt = held.startRunning(claimed as Task);
    keeper.accepted([claimed as Task]);
    await waitFor(() => attempt.reason === 'cancel', { message: 'the attempt to be cancelled' });
  });

  it('checks such a notice against the database like any other: a forged one is ignored', async () => {
    const [task] = await env.app.deps.queue.enqueueMany([{ name: 'test.block' }]);
    const claim = { underWay: true };
    const held = createHeldTasks();
    const { keeper, messages } = keeperFor(held, claim);
    const [claimed] = await claimTasks(env.app.sql, { workerId: 'w-claiming', limit: 1, queues: [], leaseMs: 30_000 });
    keeper.routeCancel(task?.id as string);
    claim.underWay = false;
    const attempt = held.startRunning(claimed as Task);
    keeper.accepted([claimed as Task]);
    await waitFor(() => messages().some((m) => m.includes('was not requested')), { message: 'the forged notice to be read and ignored' });
    expect(attempt.reason).toBeUndefined();
  });

  it('forgets a notice for a task it does not hold when no claim is under way, and those of a claim once it has landed', async () => {
    await env.app.deps.queue.enqueueMany([{ name: 'test.block' }, { name: 'test.block' }]);
    const claimed = await claimTasks(env.app.sql, { workerId: 'w-claiming', limit: 2, queues: [], leaseMs: 30_000 });
    const [before, during] = claimed as [Task, Task];
    for (const t of claimed) await env.app.deps.queue.cancelTask(t.id);
    // Every read of a cancel request the keeper makes, by task id (its statement's one parameter).
    const reads: unknown[] = [];
    const sql = new Proxy(env.app.sql, {
      apply(target, self, args: unknown[]) {
        reads.push(args[1]);
        return Reflect.apply(target, self, args) as unknown;
      },
    });
    const claim = { underWay: false };
    const held = createHeldTasks();
    const { keeper } = keeperFor(held, claim, { sql });
    keeper.routeCancel(before.id); // another worker's task, as far as it knows: nothing is kept
    claim.underWay = true;
    keeper.routeCancel(during.id);
    claim.underWay = false;
    keeper.accepted([]); // the claim landed without it: forgotten
    for (const t of claimed) held.startRunning(t);
    keeper.accepted(claimed);
    expect(reads).toEqual([]);
    // Held now: a notice is read at once (and so the reads above would have been seen).
    keeper.routeCancel(during.id);
    expect(reads).toEqual([during.id]);
  });
});
