import { describe, expect, it } from 'vitest';
import { eventsOf, insertTask, useQueueTestApp, waitForStatus } from '../helpers/factories.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';

// runTaskNow (src/queue/sql/promote-task.ts): a task waiting for a later runAfter made due now.
const env = useQueueTestApp();

const HOUR = 3_600_000;
const later = (): Date => new Date(Date.now() + HOUR);

/** The PROMOTED events of a task as the log holds them. */
async function promotedEvents(id: string): Promise<{ version: number; status: string; attempt: number; at: Date }[]> {
  return env.app.sql`
    SELECT version, status, attempt, at FROM task_events WHERE task_id = ${id} AND type = 'PROMOTED' ORDER BY version`;
}

describe('runTaskNow', () => {
  it('makes a task enqueued for later due now, with one PROMOTED event at its new runAfter, and an idle worker runs it at once', async () => {
    // The worker polls once a minute: only the wake-up the promotion sends can start the task within the test.
    const runner = await env.app.startRunner({ pollIntervalMs: 60_000 });
    const task = await env.app.deps.queue.enqueue({ name: 'math.copysign', args: [2, -1], runAfter: later() });
    const now = await env.app.deps.queue.now();
    const promoted = await env.app.deps.queue.runTaskNow(task.id);
    expect(promoted).toMatchObject({ id: task.id, status: 'PENDING', version: 2, attempts: 0 });
    expect(promoted.runAfter.getTime()).toBeGreaterThanOrEqual(now.getTime());
    expect(promoted.runAfter.getTime()).toBeLessThan(task.runAfter.getTime() - HOUR / 2);
    const events = await promotedEvents(task.id);
    expect(events).toEqual([{ version: 2, status: 'PENDING', attempt: 0, at: promoted.runAfter }]);
    expect(await waitForStatus(env.app.deps, task.id, 'SUCCEEDED')).toMatchObject({ returnValue: -2, version: 4 });
    expect(await eventsOf(env.recorder, env.app.sql, task.id)).toEqual([
      { version: 1, status: 'PENDING' },
      { version: 2, status: 'PENDING' },
      { version: 3, status: 'RUNNING' },
      { version: 4, status: 'SUCCEEDED' },
    ]);
    await runner.stop();
  });

  it('runs a RETRYING task backing off for an hour at once, keeping its status, attempts and error', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'test.fail-once', maxAttempts: 2, backoff: { baseMs: HOUR, factor: 1, jitter: 0 } });
    const runner = await env.app.startRunner();
    const retrying = await waitForStatus(env.app.deps, task.id, 'RETRYING');
    expect(retrying.runAfter.getTime()).toBeGreaterThan(Date.now() + HOUR / 2);
    const promoted = await env.app.deps.queue.runTaskNow(task.id);
    expect(promoted).toMatchObject({ status: 'RETRYING', attempts: 1, maxAttempts: 2, version: retrying.version + 1, errors: retrying.errors });
    expect(await promotedEvents(task.id)).toEqual([{ version: retrying.version + 1, status: 'RETRYING', attempt: 1, at: promoted.runAfter }]);
    expect(await waitForStatus(env.app.deps, task.id, 'SUCCEEDED')).toMatchObject({ attempts: 2, returnValue: { attempt: 2 } });
    await runner.stop();
  });

  it('answers a waiting task already due as it is, with no event', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo' });
    const same = await env.app.deps.queue.runTaskNow(task.id);
    expect(same).toMatchObject({ id: task.id, status: 'PENDING', version: 1, runAfter: task.runAfter });
    // And a second call after a promotion changes nothing more.
    const delayed = await env.app.deps.queue.enqueue({ name: 'demo.echo', runAfter: later() });
    const once = await env.app.deps.queue.runTaskNow(delayed.id);
    expect(await env.app.deps.queue.runTaskNow(delayed.id)).toMatchObject({ version: once.version, runAfter: once.runAfter });
    expect(await promotedEvents(task.id)).toEqual([]);
    expect(await promotedEvents(delayed.id)).toHaveLength(1);
    await env.app.deps.queue.cancelTask(task.id);
    await env.app.deps.queue.cancelTask(delayed.id);
  });

  it('refuses a RUNNING, finished or BLOCKED task with CONFLICT naming its status, and an unknown or malformed id', async () => {
    const cases = [
      await insertTask(env.app.sql, { status: 'RUNNING', workerId: 'w-1', leaseMs: HOUR }),
      await insertTask(env.app.sql, { status: 'SUCCEEDED' }),
      await insertTask(env.app.sql, { status: 'FAILED' }),
      await insertTask(env.app.sql, { status: 'CANCELLED' }),
    ];
    for (const task of cases) {
      const refusal = env.app.deps.queue.runTaskNow(task.id);
      await expect(refusal).rejects.toMatchObject({ code: 'CONFLICT', field: 'id' });
      await expect(refusal).rejects.toThrow(`is ${task.status}`);
      expect((await env.app.deps.queue.getTask(task.id))?.version).toBe(task.version);
    }
    const workflow = await env.app.deps.queue.workflows.enqueue({
      steps: [
        { ref: 'first', task: { name: 'demo.echo', runAfter: later() } },
        { ref: 'second', task: { name: 'demo.echo' }, dependsOn: ['first'] },
      ],
    });
    const blocked = workflow.steps.find((s) => s.ref === 'second');
    await expect(env.app.deps.queue.runTaskNow(blocked?.taskId ?? '')).rejects.toThrow(/is BLOCKED.*waits for its parents/);
    await env.app.deps.queue.workflows.cancel(workflow.id);
    await expect(env.app.deps.queue.runTaskNow('0190a000-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(env.app.deps.queue.runTaskNow('nope')).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });

  it("finds another tenant's task unknown, and changes nothing of it", async () => {
    const acme = env.app.deps.queue.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: null });
    const globex = env.app.deps.queue.scoped({ readTenant: 'globex', writeTenant: 'globex', createdBy: null });
    const task = await acme.enqueue({ name: 'demo.echo', runAfter: later() });
    await expect(globex.runTaskNow(task.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await acme.getTask(task.id))?.version).toBe(1);
    expect(await acme.runTaskNow(task.id)).toMatchObject({ version: 2 });
    await acme.cancelTask(task.id);
  });

  it('leaves a paused queue paused: the task is due, not claimed, and starts once the queue is resumed', async () => {
    await env.app.deps.queue.queueControl.pause('run-now-paused');
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', args: ['x'], queue: 'run-now-paused', runAfter: later() });
    expect(await env.app.deps.queue.runTaskNow(task.id)).toMatchObject({ status: 'PENDING', version: 2 });
    // The claim a worker of that queue makes: the pause holds the task, due as it is.
    expect(await claimTasks(env.app.sql, { workerId: 'w-paused', limit: 10, queues: ['run-now-paused'], leaseMs: 1000 })).toEqual([]);
    await env.app.deps.queue.queueControl.resume('run-now-paused');
    const runner = await env.app.startRunner();
    await waitForStatus(env.app.deps, task.id, 'SUCCEEDED');
    await runner.stop();
  });
});
