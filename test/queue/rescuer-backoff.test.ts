import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { defineTask } from '../../src/worker/define-task.js';
import { expectCompleteLogs } from '../helpers/event-log.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';

// The rescuer retries with the one backoff rule (src/queue/backoff.ts), as a failed attempt does.
const HOUR = 3_600_000;
let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp({}, [
    defineTask({ name: 'test.slow-backoff', maxAttempts: 5, backoff: { baseMs: HOUR, maxMs: 2 * HOUR, factor: 2, jitter: 0 }, run: () => null }),
  ]);
});
afterAll(async () => {
  await app.close();
});

describe('rescuer.runOnce', () => {
  it("uses the task definition's backoff when the task has none of its own", async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.slow-backoff' });
    await claimTasks(app.sql, { workerId: 'ghost', limit: 1, queues: [], leaseMs: 1 });
    const now = new Date(Date.now() + 60_000);
    const [rescued] = await app.deps.rescuer.runOnce(now);
    expect(rescued).toMatchObject({ id: task.id, status: 'RETRYING' });
    expect(rescued!.runAfter.getTime() - now.getTime()).toBe(HOUR);
    await app.deps.queue.cancelTask(task.id);
  });

  it('rescues a batch holding a task whose exponential delay would overflow a float, each with a capped delay', async () => {
    const huge = await app.deps.queue.enqueue({ name: 'demo.echo', maxAttempts: 1000, backoff: { baseMs: 1000, maxMs: 60_000, factor: 100, jitter: 0 } });
    const plain = await app.deps.queue.enqueue({ name: 'demo.echo', maxAttempts: 2 });
    await claimTasks(app.sql, { workerId: 'ghost', limit: 2, queues: [], leaseMs: 1 });
    // 100^899 is Infinity in a float (SQL's power() raised an error, failing the whole batch).
    // Set-up only: no statement reaches attempt 900 quickly.
    await app.sql`UPDATE tasks SET attempts = 900 WHERE id = ${huge.id}`;
    const now = new Date(Date.now() + 60_000);
    const rescued = await app.deps.rescuer.runOnce(now);
    expect(rescued.map((t) => t.id).sort()).toEqual([huge.id, plain.id].sort());
    const hugeAfter = rescued.find((t) => t.id === huge.id)!;
    expect(hugeAfter.status).toBe('RETRYING');
    expect(hugeAfter.runAfter.getTime() - now.getTime()).toBe(60_000);
    for (const t of rescued) await app.deps.queue.cancelTask(t.id);
  });

  it('leaves every log complete', async () => {
    // The attempts set-up above changed a column without an event; versions still line up.
    await expectCompleteLogs(app.sql);
  });
});
