import { describe, expect, it, vi } from 'vitest';
import type { Task } from '../../src/queue/task.js';
import type { Runner } from '../../src/worker/runner.js';
import { copysign } from '../../src/worker/examples.js';
import { UNKNOWN_TASK_GRACE_MS } from '../../src/worker/execute-task.js';
import { createRegistry } from '../../src/worker/registry.js';
import { eventsOf, useQueueTestApp, waitForStatus } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// A fleet where one worker lacks a task's handler (services splitting task names on one queue, or a
// rolling deploy): that worker hands the task back, and must not take it back again ahead of an idle
// worker that has the handler. Before the fix it woke itself exactly when the hand-back was due
// (5 s) and claimed first, round after round, while the other looked only at its poll (1 s): tasks
// waited minutes. Both workers poll every second here, as in production, so that only a wake-up
// (not a fast poll) gets the task to the worker that has its handler promptly.
const env = useQueueTestApp();

const ROUNDS = 10;
const PER_ROUND = 5;

/** Claims per task id, from a runner's `claimed` events. */
function countClaims(runner: Runner): Map<string, number> {
  const claims = new Map<string, number>();
  runner.on('claimed', (tasks: Task[]) => {
    for (const t of tasks) claims.set(t.id, (claims.get(t.id) ?? 0) + 1);
  });
  return claims;
}

async function statuses(ids: readonly string[]): Promise<Map<string, { status: string; workerIds: string[] }>> {
  const rows = await env.app.sql`SELECT id, status, worker_ids AS "workerIds" FROM tasks WHERE id = ANY(${ids as string[]}::uuid[])`;
  return new Map(rows.map((r) => [String(r.id), { status: String(r.status), workerIds: r.workerIds as string[] }]));
}

describe('a task handed back for want of a handler', () => {
  it.each([
    ['a worker of every queue (taskwire_claim)', 'hb-all', [] as string[], false],
    ['a worker of named queues (the claim statement)', 'hb-named', ['hb-named'], false],
    ['a rate-limited queue (claimLimitedTasks)', 'hb-rate', [] as string[], true],
  ])('reaches the worker that has its handler, never taken back by the one without it: %s', async (_, queue, queues, limited) => {
    const { deps } = env.app;
    if (limited) await deps.queue.queueControl.setLimits(queue, { rateLimit: { max: 1000, perMs: 1000 } });
    const lacking = env.app.runner({ registry: createRegistry([copysign]), queues, pollIntervalMs: 1000, concurrency: PER_ROUND });
    const lackingClaims = countClaims(lacking);
    const handedBack = new Set<string>();
    lacking.on('finished', (task, outcome) => {
      if (outcome === 'snoozed') handedBack.add(task.id);
    });

    // A rolling deploy: the worker without the handler is alone when the tasks come.
    await lacking.start();
    const first = await deps.queue.enqueueMany(Array.from({ length: PER_ROUND }, (_, i) => ({ name: 'demo.echo', queue, args: [0, i] })));
    await waitFor(() => first.every((t) => handedBack.has(t.id)), { timeoutMs: 20_000, message: 'the first tasks handed back' });

    const capable = env.app.runner({ queues, pollIntervalMs: 1000, concurrency: PER_ROUND });
    await capable.start();
    const ids = first.map((t) => t.id);
    // Then rounds with both running: whichever claims first, the task ends on the capable worker.
    for (let round = 0; round <= ROUNDS; round++) {
      const batch =
        round === 0 ? first : await deps.queue.enqueueMany(Array.from({ length: PER_ROUND }, (_, i) => ({ name: 'demo.echo', queue, args: [round, i] })));
      if (round > 0) ids.push(...batch.map((t) => t.id));
      // Done, or taken back by the worker without the handler (the defect): either ends the wait.
      await waitFor(
        async () => {
          if (batch.some((t) => (lackingClaims.get(t.id) ?? 0) > 1)) return true;
          const now = await statuses(batch.map((t) => t.id));
          return [...now.values()].every((s) => s.status === 'SUCCEEDED');
        },
        { timeoutMs: 30_000, message: `round ${round} done` },
      );
    }

    const reclaimed = ids.filter((id) => (lackingClaims.get(id) ?? 0) > 1);
    expect(reclaimed).toEqual([]);
    const final = await statuses(ids);
    for (const id of ids) expect(final.get(id)).toMatchObject({ status: 'SUCCEEDED', workerIds: [capable.workerId] });
    // The first round at least went through a hand-back (the worker without the handler was alone).
    expect(handedBack.size).toBeGreaterThanOrEqual(PER_ROUND);
    for (const id of handedBack) expect(lackingClaims.get(id)).toBe(1);
    await env.app.stopRunners();
  }, 120_000);

  it('is still failed UnknownTask at the end of the grace when no worker has the handler: the worker passes it over only until then', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: 'hb-none', maxAttempts: 3 });
    // Its grace ends 1.5 s from now: handed back first, then claimed again and failed.
    await env.app.sql`UPDATE tasks SET enqueued_at = now() - ${UNKNOWN_TASK_GRACE_MS - 1500} * interval '1 millisecond' WHERE id = ${task.id}`;
    const lacking = await env.app.startRunner({ registry: createRegistry([copysign]) });
    const done = await waitForStatus(env.app.deps, task.id, 'FAILED', 20_000);
    expect(done.errors).toEqual([expect.objectContaining({ exceptionType: 'UnknownTask', attempt: 1, workerId: lacking.workerId })]);
    expect((await eventsOf(env.recorder, env.app.sql, task.id)).map((e) => e.status)).toEqual(['PENDING', 'RUNNING', 'PENDING', 'RUNNING', 'FAILED']);
  });

  it('measures the grace on the database\'s clock: a worker whose clock is 20 minutes ahead hands a fresh task back', async () => {
    // Only Date is faked (timers, performance.now and the database keep the real time): the worker's
    // wall clock 20 minutes ahead of the database, as on a host whose clock drifted.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() + 20 * 60_000 });
    try {
      const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: 'hb-ahead', maxAttempts: 3 });
      const lacking = env.app.runner({ registry: createRegistry([copysign]), queues: ['hb-ahead'] });
      const outcome = new Promise<string>((resolve) => {
        lacking.on('finished', (t: Task, how: string) => {
          if (t.id === task.id) resolve(how);
        });
      });
      await lacking.start();
      expect(await outcome).toBe('snoozed');
      await lacking.stop();
      const stored = await env.app.deps.queue.getTask(task.id);
      expect([stored?.status, stored?.errors]).toEqual(['PENDING', []]);
    } finally {
      vi.useRealTimers();
    }
  });
});
