import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../../src/queue/task.js';
import { createTestApp, type TestApp } from './app.js';
import { insertTask } from './factories.js';

let app: TestApp;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(async () => {
  await app?.close();
});

/** The task's event log, oldest first: [version, type, status]. */
async function eventLog(task: Task): Promise<[number, string, string][]> {
  const rows = await app.sql`SELECT version, type, status FROM task_events WHERE task_id = ${task.id} ORDER BY version`;
  return rows.map((r) => [Number(r.version), String(r.type), String(r.status)]);
}

describe('insertTask', () => {
  it('makes a PENDING task by default, due now, with no attempt', async () => {
    const task = await insertTask(app.sql);
    expect(task).toMatchObject({ status: 'PENDING', version: 1, attempts: 0, maxAttempts: 1, workerIds: [], errors: [], lockedBy: null });
    expect(task.runAfter.getTime()).toBeLessThanOrEqual(Date.now());
    expect(await eventLog(task)).toEqual([[1, 'ENQUEUED', 'PENDING']]);
  });

  it('makes a RUNNING task holding a lease, or one whose lease has already run out', async () => {
    const running = await insertTask(app.sql, { status: 'RUNNING', workerId: 'w-1', leaseMs: 60_000 });
    expect(running).toMatchObject({ status: 'RUNNING', version: 2, attempts: 1, workerIds: ['w-1'], lockedBy: 'w-1', finishedAt: null });
    expect(running.startedAt).not.toBeNull();
    expect(running.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 30_000);
    const lost = await insertTask(app.sql, { status: 'RUNNING', leaseMs: -1000 });
    expect(lost.leaseExpiresAt!.getTime()).toBeLessThan(Date.now());
    const cancelling = await insertTask(app.sql, { status: 'RUNNING', cancelRequested: true });
    expect(cancelling).toMatchObject({ status: 'RUNNING', cancelRequested: true, version: 3 });
    expect(await eventLog(cancelling)).toEqual([
      [1, 'ENQUEUED', 'PENDING'],
      [2, 'STARTED', 'RUNNING'],
      [3, 'CANCEL_REQUESTED', 'RUNNING'],
    ]);
  });

  it('claims the task asked for, not a more urgent one waiting in the same queue', async () => {
    const urgent = await insertTask(app.sql, { queue: 'crowded', priority: 100 });
    const mine = await insertTask(app.sql, { status: 'RUNNING', queue: 'crowded', priority: -100 });
    expect(mine.status).toBe('RUNNING');
    expect((await app.deps.queue.getTask(urgent.id))?.status).toBe('PENDING');
  });

  it('makes a SUCCEEDED task with its result and its retention', async () => {
    const task = await insertTask(app.sql, { status: 'SUCCEEDED', returnValue: { sum: 3 }, resultTtlMs: 60_000 });
    expect(task).toMatchObject({ status: 'SUCCEEDED', version: 3, attempts: 1, returnValue: { sum: 3 }, lockedBy: null, leaseExpiresAt: null });
    // To the second: finished_at and expires_at are two clock_timestamp() reads, and their µs cut to
    // Date's ms can put them 60001 apart (as in complete-function.test.ts).
    expect(Math.round((task.expiresAt!.getTime() - task.finishedAt!.getTime()) / 1000)).toBe(60);
    const expired = await insertTask(app.sql, { status: 'SUCCEEDED', resultTtlMs: 0 });
    expect(expired.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('makes a FAILED task with one error per attempt, every version in its event log', async () => {
    const task = await insertTask(app.sql, { status: 'FAILED', attempts: 3, workerId: 'w-2', error: { exceptionType: 'ValueError', message: 'bad' } });
    expect(task).toMatchObject({ status: 'FAILED', attempts: 3, maxAttempts: 3, version: 7, workerIds: ['w-2', 'w-2', 'w-2'], lockedBy: null });
    expect(task.errors.map((e) => [e.exceptionType, e.message, e.attempt, e.workerId])).toEqual([
      ['ValueError', 'bad', 1, 'w-2'],
      ['ValueError', 'bad', 2, 'w-2'],
      ['ValueError', 'bad', 3, 'w-2'],
    ]);
    expect(task.finishedAt).not.toBeNull();
    expect(task.expiresAt).not.toBeNull();
    expect(await eventLog(task)).toEqual([
      [1, 'ENQUEUED', 'PENDING'],
      [2, 'STARTED', 'RUNNING'],
      [3, 'RETRY_SCHEDULED', 'RETRYING'],
      [4, 'STARTED', 'RUNNING'],
      [5, 'RETRY_SCHEDULED', 'RETRYING'],
      [6, 'STARTED', 'RUNNING'],
      [7, 'FAILED', 'FAILED'],
    ]);
  });

  it('makes a RETRYING task with an attempt left, due after its delay', async () => {
    const task = await insertTask(app.sql, { status: 'RETRYING', retryDelayMs: 60_000 });
    expect(task).toMatchObject({ status: 'RETRYING', attempts: 1, maxAttempts: 2, finishedAt: null, expiresAt: null, lockedBy: null });
    expect(task.errors).toHaveLength(1);
    expect(task.runAfter.getTime()).toBeGreaterThan(Date.now() + 30_000);
  });

  it('makes a CANCELLED task, cancelled while waiting or while running', async () => {
    const waiting = await insertTask(app.sql, { status: 'CANCELLED' });
    expect(waiting).toMatchObject({ status: 'CANCELLED', attempts: 0, cancelRequested: true, version: 2 });
    expect(waiting.finishedAt).not.toBeNull();
    const stopped = await insertTask(app.sql, { status: 'CANCELLED', attempts: 1 });
    expect(stopped).toMatchObject({ status: 'CANCELLED', attempts: 1, errors: [], version: 4 });
    expect((await eventLog(stopped)).map(([, type]) => type)).toEqual(['ENQUEUED', 'STARTED', 'CANCEL_REQUESTED', 'CANCELLED']);
  });

  it('refuses a state no task can be in', async () => {
    await expect(insertTask(app.sql, { status: 'PENDING', attempts: 1 })).rejects.toThrow('a PENDING task has made no attempt');
    await expect(insertTask(app.sql, { status: 'RETRYING', attempts: 2, maxAttempts: 2 })).rejects.toThrow('a RETRYING task has an attempt left');
    await expect(insertTask(app.sql, { status: 'FAILED', attempts: 3, maxAttempts: 2 })).rejects.toThrow('attempts cannot exceed maxAttempts');
  });
});
