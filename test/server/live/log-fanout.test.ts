import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import type { TaskEventRecord } from '../../../src/queue/event-log.js';
import type { Task } from '../../../src/queue/index.js';
import { createEventLogFanout, type EventLogFanout } from '../../../src/server/live/log-fanout.js';
import { createQueueTestApp, type QueueTestApp } from '../../helpers/factories.js';

// The task log's fan-out (src/server/live/log-fanout.ts) on the real database, driven by hand: no
// LISTEN, notices handed in as the hub would, so the order of reads and notices is the test's.
let app: QueueTestApp;
let fanout: EventLogFanout;
beforeAll(async () => {
  app = await createQueueTestApp();
  fanout = createEventLogFanout({ queue: app.deps.queue, log: silentLogger });
});
afterAll(async () => {
  fanout.close();
  await app.close();
});

const FUTURE = (): Date => new Date(Date.now() + 3_600_000);

/** Everything the stream gives until it ends, or 'still open' after `ms`. */
async function drain(stream: AsyncIterator<TaskEventRecord>, ms = 3000): Promise<TaskEventRecord[] | 'still open'> {
  const got: TaskEventRecord[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    const step = await Promise.race([stream.next(), new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), Math.max(0, left)).unref())]);
    if (step === 'still open') return step;
    if (step.done) return got;
    got.push(step.value);
  }
}

/** The next value within `ms`, or 'nothing'. */
async function nextWithin(stream: AsyncIterator<TaskEventRecord>, ms: number): Promise<IteratorResult<TaskEventRecord> | 'nothing'> {
  return Promise.race([stream.next(), new Promise<'nothing'>((resolve) => setTimeout(() => resolve('nothing'), ms).unref())]);
}

describe('createEventLogFanout().watchTaskEvents', () => {
  it('ends a subscriber at or beyond the log of a task that ended between being loaded and the subscription, with no notice', async () => {
    const loaded: Task = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['x'], runAfter: FUTURE() });
    // The task ends (version 2) after the hub loaded it at version 1, before the subscriber joins:
    // its notice went by when nobody of this task listened.
    expect((await app.deps.queue.cancelTask(loaded.id)).version).toBe(2);
    for (const afterVersion of [2, 50]) {
      expect(await drain(fanout.watchTaskEvents(loaded, afterVersion, []))).toEqual([]);
    }
    // One below: the event it lacks, then the end (as before).
    expect(((await drain(fanout.watchTaskEvents(loaded, 1, []))) as TaskEventRecord[]).map((e) => [e.version, e.status])).toEqual([[2, 'CANCELLED']]);
    expect(fanout.stats.subscriptions).toBe(0);
  });

  it('ends a subscriber beyond the log once a notice says the task ended there, and not while a retry takes it on', async () => {
    const task = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['y'], runAfter: FUTURE() });
    const beyond = fanout.watchTaskEvents(task, 50, []);
    const atNext = fanout.watchTaskEvents(task, 2, []);
    const first = beyond.next();
    expect(await nextWithin(atNext, 200)).toBe('nothing');
    // Cancelled (2), retried (3): the retry is after afterVersion 2, so that one gets it and goes on.
    await app.deps.queue.cancelTask(task.id);
    await app.deps.queue.retryTask(task.id);
    fanout.onNotices([
      { id: task.id, version: 2, status: 'CANCELLED' },
      { id: task.id, version: 3, status: 'PENDING' },
    ]);
    const retried = await nextWithin(atNext, 3000);
    expect(retried !== 'nothing' && !retried.done && [retried.value.version, retried.value.type]).toEqual([3, 'RETRIED']);
    // The one beyond saw a log whose last event is PENDING: not the end.
    expect(await Promise.race([first.then(() => 'ended'), new Promise((resolve) => setTimeout(() => resolve('open'), 300).unref())])).toBe('open');
    // Cancelled again (4): both end, the one at 2 after taking it.
    await app.deps.queue.cancelTask(task.id);
    fanout.onNotices([{ id: task.id, version: 4, status: 'CANCELLED' }]);
    expect(await Promise.race([first, new Promise((resolve) => setTimeout(() => resolve('still open'), 3000).unref())])).toEqual({ value: undefined, done: true });
    expect(((await drain(atNext)) as TaskEventRecord[]).map((e) => e.version)).toEqual([4]);
    expect(fanout.stats.subscriptions).toBe(0);
  });
});
