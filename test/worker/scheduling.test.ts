import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { rescueTasks } from '../../src/queue/sql/rescue-tasks.js';
import { createQueueTestApp, executionOrder, insertTask, waitForStatus, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// Which task runs when: priority, runAfter, queues.
let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await app.close();
});
// executionOrder is one array per process, and integration files share processes (isolate: false):
// a file that ran before this one in the same process may have left its runs in it.
beforeEach(() => {
  executionOrder.length = 0;
});
afterEach(async () => {
  await app.stopRunners();
  await app.sql`DELETE FROM tasks`;
});

describe('claimTasks', () => {
  it('runs higher priority first, then in enqueue order', async () => {
    const priorities = [0, 10, -5, 100, 10, 0, -100];
    const tasks = await app.deps.queue.enqueueMany(priorities.map((priority) => ({ name: 'test.record', priority })));
    const expected = tasks
      .map((t, i) => ({ id: t.id, priority: priorities[i] as number, i }))
      .sort((a, b) => b.priority - a.priority || a.i - b.i)
      .map((t) => t.id);
    await app.runner({ concurrency: 1 }).start();
    for (const t of tasks) await waitForStatus(app.deps, t.id, 'SUCCEEDED');
    expect(executionOrder).toEqual(expected);
  });

  it('hands back a batch in claim order', async () => {
    const tasks = await app.deps.queue.enqueueMany([
      { name: 'demo.echo', priority: 1 },
      { name: 'demo.echo', priority: 50 },
      { name: 'demo.echo', priority: 1 },
    ]);
    const claimed = await claimTasks(app.sql, { workerId: 'w', limit: 10, queues: [], leaseMs: 60_000 });
    expect(claimed.map((t) => t.id)).toEqual([tasks[1]?.id, tasks[0]?.id, tasks[2]?.id]);
    expect(claimed.every((t) => t.status === 'RUNNING' && t.lockedBy === 'w' && t.attempts === 1)).toBe(true);
  });

  it('never gives one task to two workers claiming at once', async () => {
    await app.deps.queue.enqueueMany(Array.from({ length: 200 }, () => ({ name: 'demo.echo' })));
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) => claimTasks(app.sql, { workerId: `w${i}`, limit: 40, queues: [], leaseMs: 60_000 })),
    );
    const ids = claims.flat().map((t) => t.id);
    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);
  });

  it('does not claim a task before its runAfter, and claims it once it passes', async () => {
    const later = await app.deps.queue.enqueue({ name: 'test.record', priority: 100, runAfter: new Date(Date.now() + 3_600_000) });
    const soon = await app.deps.queue.enqueue({ name: 'test.record', runAfter: new Date(Date.now() + 300) });
    const now = await app.deps.queue.enqueue({ name: 'test.record', priority: -100 });
    await app.runner({ concurrency: 1, pollIntervalMs: 20 }).start();
    await waitForStatus(app.deps, now.id, 'SUCCEEDED');
    const done = await waitForStatus(app.deps, soon.id, 'SUCCEEDED');
    expect(done.startedAt?.getTime()).toBeGreaterThanOrEqual(soon.runAfter.getTime());
    // Priority 100 did not help `later`: it is not due, so it was passed over every time.
    expect(executionOrder).not.toContain(later.id);
    expect(await app.deps.queue.getTask(later.id)).toMatchObject({ status: 'PENDING', attempts: 0, version: 1 });
  });

  it("claims its own retry and snooze when they fall due, not at the next poll", async () => {
    // A poll of a minute: the deadlines below are met only by looking when each is due.
    await app.runner({ concurrency: 2, pollIntervalMs: 60_000 }).start();
    const retried = await app.deps.queue.enqueue({ name: 'test.fail-once', maxAttempts: 2, backoff: { baseMs: 300, maxMs: 300, jitter: 0 } });
    const snoozed = await app.deps.queue.enqueue({ name: 'test.snooze-once', args: [400] });
    const [retriedDone, snoozedDone] = await Promise.all([
      waitForStatus(app.deps, retried.id, 'SUCCEEDED', 15_000),
      waitForStatus(app.deps, snoozed.id, 'SUCCEEDED', 15_000),
    ]);
    expect(retriedDone.attempts).toBe(2);
    expect(snoozedDone.returnValue).toBe('woke');
    // Started again no sooner than due.
    const { events } = await app.deps.queue.listTaskEvents({ taskId: retried.id });
    const scheduled = events.find((e) => e.type === 'RETRY_SCHEDULED');
    const restarted = events.filter((e) => e.type === 'STARTED')[1];
    expect(restarted!.at.getTime() - scheduled!.at.getTime()).toBeGreaterThanOrEqual(300);
  });

  it('claims its own retry when due though its wall clock stepped back meanwhile (an NTP step, a VM resumed)', async () => {
    await app.runner({ concurrency: 2, pollIntervalMs: 60_000 }).start();
    const retried = await app.deps.queue.enqueue({ name: 'test.fail-once', maxAttempts: 2, backoff: { baseMs: 1500, maxMs: 1500, jitter: 0 } });
    await waitFor(async () => (await app.deps.queue.listTaskEvents({ taskId: retried.id })).events.some((e) => e.type === 'RETRY_SCHEDULED'), { message: 'the retry scheduled' });
    // Only Date steps back a minute: timers and the database keep the real time.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() - 60_000 });
    try {
      // Due 1.5 s on; the poll is a minute away (it waited for it, a wake-up reading "not due yet").
      expect((await waitForStatus(app.deps, retried.id, 'SUCCEEDED', 10_000)).attempts).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('claims only from the queues a runner was given', async () => {
    const [a, b, c] = await app.deps.queue.enqueueMany([
      { name: 'demo.echo', queue: 'alpha' },
      { name: 'demo.echo', queue: 'beta' },
      { name: 'demo.echo', queue: 'gamma' },
    ]);
    if (!a || !b || !c) throw new Error('enqueueMany lost a task');
    await app.runner({ queues: ['alpha', 'gamma'] }).start();
    await waitForStatus(app.deps, a.id, 'SUCCEEDED');
    await waitForStatus(app.deps, c.id, 'SUCCEEDED');
    // A task enqueued now in beta wakes nobody here; an alpha one is picked up at once.
    const d = await app.deps.queue.enqueue({ name: 'demo.echo', queue: 'alpha' });
    await waitForStatus(app.deps, d.id, 'SUCCEEDED');
    expect((await app.deps.queue.getTask(b.id))?.status).toBe('PENDING');
  });

  it('is woken by the enqueue notification rather than waiting for its poll', async () => {
    const runner = app.runner({ pollIntervalMs: 60_000 });
    await runner.start();
    const task = await app.deps.queue.enqueue({ name: 'demo.echo' });
    // Well before the next poll (a minute away): only the notification can have woken it.
    await waitForStatus(app.deps, task.id, 'SUCCEEDED', 5000);
  });

  it('is woken when a task enqueued for later falls due, not at its next poll', async () => {
    await app.runner({ pollIntervalMs: 60_000 }).start();
    const task = await app.deps.queue.enqueue({ name: 'demo.echo', runAfter: new Date(Date.now() + 300) });
    // A minute before the next poll: only the enqueue's due notice can have woken it when due.
    const done = await waitForStatus(app.deps, task.id, 'SUCCEEDED', 15_000);
    expect(done.startedAt!.getTime()).toBeGreaterThanOrEqual(task.runAfter.getTime());
  });

  it('keeps a task due in a month for then, without overflowing its timer', async () => {
    // setTimeout takes at most 2^31 − 1 ms (~24.8 days); past that Node warns and fires at once.
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      await app.runner({ pollIntervalMs: 60_000 }).start();
      const later = await app.deps.queue.enqueue({ name: 'demo.echo', runAfter: new Date(Date.now() + 30 * 86_400_000) });
      // Notifications arrive in commit order: once this one has run, the due notice was handled.
      const now = await app.deps.queue.enqueue({ name: 'demo.echo' });
      await waitForStatus(app.deps, now.id, 'SUCCEEDED');
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('TimeoutOverflowWarning');
      expect(await app.deps.queue.getTask(later.id)).toMatchObject({ status: 'PENDING', attempts: 0 });
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("is woken when a rescued task's backoff runs out, not at its next poll", async () => {
    const lost = await insertTask(app.sql, { status: 'RUNNING', leaseMs: -1000, maxAttempts: 2, backoff: { baseMs: 300, maxMs: 300, factor: 1, jitter: 0 } });
    await app.runner({ pollIntervalMs: 60_000 }).start();
    const [rescued] = await rescueTasks(app.sql, { now: null, limit: 10, defaultTtlMs: 60_000 });
    expect(rescued).toMatchObject({ id: lost.id, status: 'RETRYING' });
    const done = await waitForStatus(app.deps, lost.id, 'SUCCEEDED', 15_000);
    expect(done.attempts).toBe(2);
    expect(done.lastAttemptedAt!.getTime()).toBeGreaterThanOrEqual(rescued!.runAfter.getTime());
  });

  it('finds a RETRYING task again by polling once its backoff has passed', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.fail-once', maxAttempts: 2, backoff: { baseMs: 100, jitter: 0 } });
    await app.runner({ pollIntervalMs: 30 }).start();
    const done = await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    const firstError = done.errors[0];
    expect(firstError).toBeDefined();
    expect((done.lastAttemptedAt?.getTime() ?? 0) - (firstError?.at.getTime() ?? 0)).toBeGreaterThanOrEqual(90);
  });
});
