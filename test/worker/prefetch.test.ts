import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Task } from '../../src/queue/task.js';
import { eventsOf, executionOrder, heartbeatsFor, releaseStubborn, useQueueTestApp, waitForStatus } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';
import { SPLIT_CLAIM_AT } from '../../src/worker/claim-loop.js';

// Claiming ahead (RunnerOptions.prefetchMs): fast handlers get claims of many tasks, slow ones
// none beyond their free slots, and a task claimed ahead that never starts goes back whole.
const env = useQueueTestApp();

// Each test counts on an empty queue: a task another test handed back would take the one slot.
beforeEach(async () => {
  await env.app.sql`DELETE FROM tasks`;
});

/** Runs `count` fast tasks to completion, so the runner has an estimate of its handlers' time. */
async function warmUp(runner: ReturnType<typeof env.app.runner>, count = 5): Promise<void> {
  const tasks = await env.app.deps.queue.enqueueMany(Array.from({ length: count }, () => ({ name: 'test.record' })));
  await runner.start();
  for (const t of tasks) await waitForStatus(env.app.deps, t.id, 'SUCCEEDED');
}

/** One slow task holding the runner's only slot, and `count` fast ones claimed ahead behind it. */
async function blockedBehindStubborn(runner: ReturnType<typeof env.app.runner>, count: number): Promise<{ stubborn: Task; queued: Task[] }> {
  const [stubborn, ...queued] = await env.app.deps.queue.enqueueMany([
    { name: 'test.stubborn', priority: 10 },
    ...Array.from({ length: count }, () => ({ name: 'test.record' })),
  ]);
  if (!stubborn) throw new Error('nothing enqueued');
  await waitFor(() => runner.running === 1 && runner.waiting === count, { message: `${count} tasks claimed ahead behind the stubborn one` });
  return { stubborn, queued };
}

async function statusesOf(ids: readonly string[]): Promise<string[]> {
  const rows = await env.app.sql`SELECT status FROM tasks WHERE id = ANY(${ids as string[]}::uuid[])`;
  return rows.map((r) => String(r.status));
}

describe('claiming ahead', () => {
  it('claims beyond its free slots for fast handlers, and runs every task exactly once', async () => {
    const runner = env.app.runner({ concurrency: 2 });
    const batches: number[] = [];
    runner.on('claimed', (tasks) => batches.push(tasks.length));
    const tasks = await env.app.deps.queue.enqueueMany(Array.from({ length: 300 }, () => ({ name: 'test.record' })));
    const before = executionOrder.length;
    await runner.start();
    await waitFor(async () => (await statusesOf(tasks.map((t) => t.id))).every((s) => s === 'SUCCEEDED'), { message: 'all 300 done' });
    const ran = executionOrder.slice(before);
    expect(new Set(ran).size).toBe(300);
    expect(ran.length).toBe(300);
    // The first claim knows nothing of the handlers yet: free slots only. Later ones reach ahead.
    expect(batches[0]).toBeLessThanOrEqual(2);
    expect(Math.max(...batches)).toBeGreaterThan(2);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(300);
  });

  // Handlers that outlast what two slots start within the longest lead there is (2 × 500 ms, half of
  // releaseWaitingAfterMs): the lead adds the database's round trips to WORKER_PREFETCH_MS, and a
  // loaded machine stretches them, so 60 ms handlers on two slots were claimed one ahead when a claim
  // and a write took 20 ms between them.
  it('does not claim ahead for slow handlers: never more RUNNING rows than slots', async () => {
    const runner = env.app.runner({ concurrency: 2 });
    const running: number[] = [];
    const batches: number[] = [];
    runner.on('claimed', (tasks) => {
      batches.push(tasks.length);
      running.push(runner.running + runner.waiting);
    });
    const tasks = await env.app.deps.queue.enqueueMany(Array.from({ length: 4 }, () => ({ name: 'demo.sleep', args: [1100] })));
    await runner.start();
    for (const t of tasks) await waitForStatus(env.app.deps, t.id, 'SUCCEEDED');
    expect(Math.max(...batches)).toBeLessThanOrEqual(2);
    expect(Math.max(...running)).toBeLessThanOrEqual(2);
    expect(runner.waiting).toBe(0);
  });

  it('on stop() hands tasks claimed ahead back as they were: PENDING, no attempt, no worker', async () => {
    const runner = env.app.runner({ concurrency: 1, prefetchMs: 1000, shutdownGraceMs: 50 });
    await warmUp(runner);
    const before = executionOrder.length;
    const { queued } = await blockedBehindStubborn(runner, 20);
    await runner.stop();
    expect(runner.waiting).toBe(0);
    for (const t of queued) {
      const task = await env.app.deps.queue.getTask(t.id);
      expect(task).toMatchObject({ status: 'PENDING', attempts: 0, workerIds: [], startedAt: null, lockedBy: null });
    }
    expect(executionOrder.slice(before).filter((id) => queued.some((t) => t.id === id))).toEqual([]);
    const statuses = (await eventsOf(env.recorder, env.app.sql, (queued[0] as Task).id)).map((e) => e.status);
    expect(statuses).toEqual(['PENDING', 'RUNNING', 'PENDING']);
  });

  it('a task claimed ahead and then cancelled ends CANCELLED without running', async () => {
    const runner = env.app.runner({ concurrency: 1, prefetchMs: 1000 });
    await warmUp(runner);
    const before = executionOrder.length;
    const { stubborn, queued } = await blockedBehindStubborn(runner, 5);
    const victim = queued[2] as Task;
    await env.app.deps.queue.cancelTask(victim.id);
    const cancelled = await waitForStatus(env.app.deps, victim.id, 'CANCELLED');
    expect(cancelled.finishedAt).toBeInstanceOf(Date);
    await waitFor(() => runner.waiting === 4, { message: 'the cancelled task to leave the waiting line' });
    releaseStubborn({ taskId: stubborn.id, attempt: 1 });
    for (const t of queued.filter((t) => t !== victim)) await waitForStatus(env.app.deps, t.id, 'SUCCEEDED');
    expect(executionOrder.slice(before)).not.toContain(victim.id);
  });

  it('a lost worker: the rescuer gives back the tasks it claimed ahead and never started (PENDING, no attempt) and fails the one it ran', async () => {
    // No heartbeat in this test (a worker that stopped beating): the leases below stay run out. Its
    // handlers take ~20 ms, so it claims ~10 ahead (prefetchMs 200) and, holding them, wants no more:
    // the worker, lost but still up, does not claim back what the rescuer gives back.
    const runner = env.app.runner({ concurrency: 1, prefetchMs: 200, heartbeatMs: 600_000 });
    const warm = await env.app.deps.queue.enqueueMany(Array.from({ length: 3 }, () => ({ name: 'demo.sleep', args: [20] })));
    await runner.start();
    for (const t of warm) await waitForStatus(env.app.deps, t.id, 'SUCCEEDED');
    const [stubborn, ...queued] = await env.app.deps.queue.enqueueMany([
      { name: 'test.stubborn', priority: 10 },
      ...Array.from({ length: 30 }, () => ({ name: 'test.record' })),
    ]);
    if (!stubborn) throw new Error('nothing enqueued');
    await waitFor(() => runner.running === 1 && runner.waiting > 0, { message: 'tasks claimed ahead behind the stubborn one' });
    const held = await env.app.sql`SELECT id FROM tasks WHERE locked_by = ${runner.workerId} AND id <> ${stubborn.id}`;
    const ids = held.map((r) => String(r.id));
    expect(ids.length).toBe(runner.waiting);
    expect(ids.length).toBeLessThan(queued.length);

    await env.app.sql`UPDATE tasks SET lease_expires_at = now() - interval '1 s' WHERE locked_by = ${runner.workerId}`;
    const rescued = await env.app.deps.rescuer.runOnce();
    expect(rescued).toHaveLength(ids.length + 1);
    const lost = await env.app.deps.queue.getTask(stubborn.id);
    expect(lost).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(lost?.errors.map((e) => e.exceptionType)).toEqual(['WorkerLost']);
    for (const id of ids) {
      expect(await env.app.deps.queue.getTask(id)).toMatchObject({ status: 'PENDING', attempts: 0, maxAttempts: 1, workerIds: [], errors: [], lockedBy: null });
    }
    // Still runnable with their one attempt: another worker runs each once.
    const before = executionOrder.length;
    const next = env.app.runner({ concurrency: 5 });
    await next.start();
    for (const t of queued) expect(await waitForStatus(env.app.deps, t.id, 'SUCCEEDED')).toMatchObject({ attempts: 1, workerIds: [next.workerId] });
    expect(executionOrder.slice(before).sort()).toEqual(queued.map((t) => t.id).sort());
    releaseStubborn({ taskId: stubborn.id, attempt: 1 });
  });

  it('the heartbeat clears the mark of a task claimed ahead once it started: its worker lost, that attempt counts', async () => {
    const runner = env.app.runner({ concurrency: 1, prefetchMs: 1000, heartbeatMs: 50 });
    await warmUp(runner);
    const [first, second, ...rest] = await env.app.deps.queue.enqueueMany([
      { name: 'test.stubborn', priority: 10 },
      { name: 'test.stubborn', priority: 9 },
      ...Array.from({ length: 5 }, () => ({ name: 'test.record' })),
    ]);
    if (!first || !second) throw new Error('nothing enqueued');
    await waitFor(() => runner.running === 1 && runner.waiting === 6, { message: 'the first stubborn task running, six claimed ahead' });
    const ahead = async (id: string): Promise<boolean> => {
      const [row] = await env.app.sql`SELECT coalesce(claimed_ahead_at = last_attempted_at, false) AS ahead FROM tasks WHERE id = ${id}`;
      return Boolean(row?.ahead);
    };
    expect(await ahead(first.id)).toBe(false);
    expect(await ahead(second.id)).toBe(true);
    // The first ends; the second, claimed ahead, takes the slot; a heartbeat later its mark is gone.
    releaseStubborn({ taskId: first.id, attempt: 1 });
    await waitFor(async () => !(await ahead(second.id)), { message: 'the heartbeat to clear the started task’s mark' });
    expect(runner.running).toBe(1);
    for (const t of rest) expect(await ahead(t.id)).toBe(true);
  });

  it('tasks of a name not run here, claimed ahead by fast handlers\' estimate, go back once they waited releaseWaitingAfterMs, not at the next heartbeat', async () => {
    // No heartbeat during the test: only the wait check (releaseWaitingAfterMs, 1 s) hands them back.
    const runner = env.app.runner({ concurrency: 2, heartbeatMs: 600_000 });
    await warmUp(runner, 20);
    const slow = await env.app.deps.queue.enqueueMany(Array.from({ length: 30 }, () => ({ name: 'test.stubborn' })));
    const ids = slow.map((t) => t.id);
    // The claim sized by test.record's time takes many; the two slots start two; the rest waits,
    // then goes back a second later (before, all 30 stayed RUNNING behind two slots until a heartbeat).
    await waitFor(
      async () => {
        const statuses = await statusesOf(ids);
        return statuses.filter((s) => s === 'RUNNING').length === 2 && statuses.filter((s) => s === 'PENDING').length === 28;
      },
      { message: 'two test.stubborn running, 28 back to PENDING' },
    );
    expect(runner.waiting).toBe(0);
    // Given back whole: no attempt counted, no worker named, a RELEASED event after the claim's.
    const [back] = await env.app.sql`SELECT id FROM tasks WHERE id = ANY(${ids}::uuid[]) AND status = 'PENDING' ORDER BY id DESC LIMIT 1`;
    const released = await env.app.deps.queue.getTask(String(back?.id));
    expect(released).toMatchObject({ status: 'PENDING', attempts: 0, workerIds: [], lockedBy: null });
    expect((await eventsOf(env.recorder, env.app.sql, String(back?.id))).map((e) => e.status)).toEqual(['PENDING', 'RUNNING', 'PENDING']);
    // Another worker starts them now, rather than waiting behind the first one's two slots.
    const other = env.app.runner({ concurrency: 5, heartbeatMs: 600_000 });
    await other.start();
    await waitFor(async () => (await env.app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'RUNNING' AND locked_by = ${other.workerId}`)[0]?.n === 5, {
      message: 'the other worker running five of them',
    });
    // Their gates open as they start: release whatever waits until all 30 are done.
    await waitFor(
      async () => {
        releaseStubborn();
        return (await statusesOf(ids)).every((s) => s === 'SUCCEEDED');
      },
      { message: 'all 30 done' },
    );
  });

  it('tasks claimed ahead go back after their second of waiting though the wall clock stepped back meanwhile', async () => {
    const runner = env.app.runner({ concurrency: 2, heartbeatMs: 600_000 });
    await warmUp(runner, 20);
    const slow = await env.app.deps.queue.enqueueMany(Array.from({ length: 30 }, () => ({ name: 'test.stubborn' })));
    const ids = slow.map((t) => t.id);
    await waitFor(() => runner.running === 2 && runner.waiting > 0, { message: 'two running, others claimed ahead' });
    // Only Date steps back a minute (timers and the database keep the real time): the wait was
    // measured on it, and those tasks stayed behind the two slots for the minute.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() - 60_000 });
    try {
      await waitFor(async () => (await statusesOf(ids)).filter((s) => s === 'PENDING').length === 28, { message: '28 back to PENDING', timeoutMs: 15_000 });
    } finally {
      vi.useRealTimers();
      await waitFor(
        async () => {
          releaseStubborn();
          return (await statusesOf(ids)).every((s) => s === 'SUCCEEDED');
        },
        { message: 'all 30 done', timeoutMs: 30_000 },
      );
    }
  });

  it('tasks of a name known to be slow, landed by a claim sized for fast ones, go back at once: all but the second\'s worth the slots start', async () => {
    // Neither the heartbeat nor the wait check plays a part: only the landing's judgement.
    const runner = env.app.runner({ concurrency: 2, heartbeatMs: 600_000, releaseWaitingAfterMs: 2_000 });
    const [slowOnce] = await env.app.deps.queue.enqueueMany([{ name: 'demo.sleep', args: [200] }]);
    await runner.start();
    await waitForStatus(env.app.deps, (slowOnce as Task).id, 'SUCCEEDED');
    // test.record last: the next claim is sized by its time (a lead of hundreds).
    await warmUp(runner, 20);
    const slow = await env.app.deps.queue.enqueueMany(Array.from({ length: 40 }, () => ({ name: 'demo.sleep', args: [200] })));
    const ids = slow.map((t) => t.id);
    // Two slots × 2 s: about twenty of 200 ms (their average run time here) wait in the line, RUNNING
    // and claimed ahead; the rest go back at once, before the first of them ends.
    const landing = await waitFor(
      async () => {
        const statuses = await statusesOf(ids);
        const pending = statuses.filter((s) => s === 'PENDING').length;
        const running = statuses.filter((s) => s === 'RUNNING').length;
        const done = statuses.filter((s) => s === 'SUCCEEDED').length;
        // Landed (some RUNNING or done) and cut (some back): the claim took all forty. Those back stay
        // PENDING while the line is longer than the slots want.
        return running > 0 && pending > 0 && running + done + pending === 40 ? { pending, running: running + done } : undefined;
      },
      { message: 'the slow tasks beyond the line\'s second back to PENDING' },
    );
    expect(landing.pending).toBeGreaterThanOrEqual(17);
    expect(landing.pending).toBeLessThanOrEqual(19);
    for (const id of ids) await waitForStatus(env.app.deps, id, 'SUCCEEDED', 30_000);
  });

  it('tasks of a name not run here go back as soon as its first run says they would wait past the line\'s second', async () => {
    // The heartbeat plays no part: the first demo.sleep to end judges the line.
    const runner = env.app.runner({ concurrency: 2, heartbeatMs: 600_000, releaseWaitingAfterMs: 1_000 });
    await warmUp(runner, 20);
    const slow = await env.app.deps.queue.enqueueMany(Array.from({ length: 40 }, () => ({ name: 'demo.sleep', args: [150] })));
    const ids = slow.map((t) => t.id);
    const released = async (): Promise<number> =>
      Number((await env.app.sql`SELECT count(DISTINCT task_id)::int AS n FROM task_events WHERE task_id = ANY(${ids}::uuid[]) AND type = 'RELEASED'`)[0]?.n);
    // Claimed by test.record's estimate: two run, 38 wait on no time at all; 150 ms later the line is cut at
    // two slots × 1 s: thirteen of 150 ms stay, 25 go back (later ones may go back after waiting the second).
    await waitFor(async () => (await released()) >= 25, { message: 'the line cut after the first demo.sleep ran' });
    for (const id of ids) await waitForStatus(env.app.deps, id, 'SUCCEEDED', 30_000);
  });

  it('drains a mixed backlog of fast and slow names without handing the slow ones back and claiming them again', async () => {
    const runner = env.app.runner({ concurrency: 4, heartbeatMs: 600_000 });
    // Both names run here once, so that no cut waits for a first run to judge the line.
    const [slowOnce] = await env.app.deps.queue.enqueueMany([{ name: 'demo.sleep', args: [60] }]);
    await warmUp(runner, 20);
    await waitForStatus(env.app.deps, (slowOnce as Task).id, 'SUCCEEDED');
    // Fast and 60 ms tasks interleaved, as a queue of mixed names holds them after an outage: 40 × 60 ms
    // over 4 slots is 0.6 s, within the second a claimed task may wait.
    const tasks = await env.app.deps.queue.enqueueMany(
      Array.from({ length: 120 }, (_, i) => (i % 3 === 2 ? { name: 'demo.sleep', args: [60] } : { name: 'test.record' })),
    );
    const ids = tasks.map((t) => t.id);
    for (const id of ids) await waitForStatus(env.app.deps, id, 'SUCCEEDED');
    const [row] = await env.app.sql`SELECT count(*)::int AS n FROM task_events WHERE task_id = ANY(${ids}::uuid[]) AND type = 'RELEASED'`;
    // Cut at WORKER_PREFETCH_MS (10 ms of slot time), a claim sized by the fast name landed the slow ones
    // again and again, each straight back: 1,118–1,713 RELEASED for these 120 tasks.
    expect(row?.n).toBeLessThanOrEqual(3);
  });

  it('hands back tasks that waited too long for a slot, and does not claim them straight back', async () => {
    const runner = env.app.runner({ concurrency: 1, prefetchMs: 1000, releaseWaitingAfterMs: 150, heartbeatMs: 50 });
    await warmUp(runner);
    const { stubborn, queued } = await blockedBehindStubborn(runner, 5);
    const ids = queued.map((t) => t.id);
    await waitFor(async () => (await statusesOf(ids)).every((s) => s === 'PENDING'), { message: 'the waiting tasks to go back' });
    expect(runner.waiting).toBe(0);
    // Several heartbeats later they are still PENDING: the slot is taken and the estimate was dropped.
    await heartbeatsFor(env.app.sql, runner.workerId, 200);
    expect(await statusesOf(ids)).toEqual(ids.map(() => 'PENDING'));
    releaseStubborn({ taskId: stubborn.id, attempt: 1 });
    for (const id of ids) await waitForStatus(env.app.deps, id, 'SUCCEEDED');
  });
});

describe('claims in flight (claimsInFlight)', () => {
  /** The worker's claim statements waiting on a lock in this test's database. */
  async function claimsWaiting(): Promise<number> {
    const [row] = await env.app.sql`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%taskwire_claim(%'`;
    return Number(row?.n);
  }

  it('by default makes one claim of the whole want', async () => {
    const tasks = await env.app.deps.queue.enqueueMany(Array.from({ length: 500 }, () => ({ name: 'test.record' })));
    const runner = env.app.runner({ concurrency: 400 });
    const batches: number[] = [];
    runner.on('claimed', (claimed) => batches.push(claimed.length));
    await runner.start();
    await waitFor(async () => (await statusesOf(tasks.map((t) => t.id))).every((s) => s === 'SUCCEEDED'), { message: 'all 500 done' });
    await runner.stop();
    expect(batches[0]).toBe(400);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(500);
  });

  it(`with 2, claims a want of ${SPLIT_CLAIM_AT} or more half at a time, two claims side by side, each task claimed and run once`, async () => {
    const tasks = await env.app.deps.queue.enqueueMany(Array.from({ length: 500 }, () => ({ name: 'test.record' })));
    const before = executionOrder.length;
    // A fresh worker wants its free slots: 400, so a claim of 200, and beside it one of half the rest.
    const runner = env.app.runner({ concurrency: 400, claimsInFlight: 2 });
    const batches: number[] = [];
    runner.on('claimed', (claimed) => batches.push(claimed.length));
    // A claim writes STARTED events: holding off every insert into task_events stops each claim
    // statement where pg_stat_activity shows it, without stopping the runner's start.
    let started: Promise<void> | undefined;
    await env.app.sql.begin(async (tx) => {
      await tx`LOCK TABLE task_events IN SHARE MODE`;
      started = runner.start();
      await waitFor(async () => (await claimsWaiting()) === 2, { message: '2 claims in flight' });
    });
    await started;
    await waitFor(async () => (await statusesOf(tasks.map((t) => t.id))).every((s) => s === 'SUCCEEDED'), { message: 'all 500 done' });
    await runner.stop();
    // The claims land in any order (the one of 100 and the next may land before the one of 200).
    expect(batches).toContain(200);
    expect(batches).toContain(100);
    expect(Math.max(...batches)).toBe(200);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(500);
    const ran = executionOrder.slice(before);
    expect(ran.length).toBe(500);
    expect(new Set(ran).size).toBe(500);
  });
});
