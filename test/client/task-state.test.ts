import { describe, expect, it } from 'vitest';
import { applyEvent, initialState, type Task, type TaskEvent } from '../../src/client/task-state.js';

// The client's fold of a task's events into its states (watch(), the CLI's --watch): each event
// type does to the state what the server's statement did to the row. A tester found a snoozed run
// folded as if it had counted, and a workflow step's release as if a worker had given one back.

const ID = '01900000-0000-7000-8000-000000000001';
const task: Task = initialState({
  id: ID, name: 'demo.echo', queue: 'default', priority: 0, status: 'PENDING', isFinished: false, version: 1,
  args: [], kwargs: {}, returnValue: null, attempts: 0, maxAttempts: 3, workerIds: [], enqueuedAt: '2026-12-07T00:00:00.000Z',
  runAfter: null, startedAt: null, finishedAt: null, lastAttemptedAt: null, durationMs: null, cancelRequested: false,
  expiresAt: null, idempotencyKey: null, timeoutMs: null, resultTtlMs: null, tenant: 'default', createdBy: null, outputBytes: 0,
  concurrencyKey: null, waitReason: null, scheduledFor: null, stepRef: null, errors: [], progress: null,
  backoff: { baseMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.1 }, schedule: null, workflow: null, dependsOn: [],
});

let at = 0;
function event(version: number, type: TaskEvent['type'], status: TaskEvent['status'], attempt: number, workerId: string | null = null): TaskEvent {
  at += 1000;
  return { taskId: ID, version, type, status, at: new Date(Date.UTC(2026, 11, 7, 0, 0, 0, at)).toISOString(), attempt, workerId, output: null, cursor: `c${version}`, progress: null, error: null };
}

const fold = (events: TaskEvent[], from: Task = task): Task[] => {
  const states: Task[] = [];
  let state = from;
  for (const e of events) states.push((state = applyEvent(state, e)));
  return states;
};
const brief = (t: Task) => ({ version: t.version, status: t.status, attempts: t.attempts, workerIds: t.workerIds, started: t.startedAt !== null });

describe('applyEvent', () => {
  it('a SNOOZED run gives its attempt back, as the row does: attempts down, its worker dropped, the first attempt\'s stamps cleared', () => {
    const states = fold([
      event(1, 'ENQUEUED', 'PENDING', 0),
      event(2, 'STARTED', 'RUNNING', 1, 'w1'),
      event(3, 'SNOOZED', 'PENDING', 1, 'w1'),
      event(4, 'STARTED', 'RUNNING', 1, 'w2'),
      event(5, 'SUCCEEDED', 'SUCCEEDED', 1, 'w2'),
    ]);
    expect(states.map(brief)).toEqual([
      { version: 1, status: 'PENDING', attempts: 0, workerIds: [], started: false },
      { version: 2, status: 'RUNNING', attempts: 1, workerIds: ['w1'], started: true },
      { version: 3, status: 'PENDING', attempts: 0, workerIds: [], started: false },
      { version: 4, status: 'RUNNING', attempts: 1, workerIds: ['w2'], started: true },
      { version: 5, status: 'SUCCEEDED', attempts: 1, workerIds: ['w2'], started: true },
    ]);
    // A later attempt's snooze keeps the first attempt's start.
    const later = fold([event(6, 'RETRIED', 'PENDING', 1), event(7, 'STARTED', 'RUNNING', 2, 'w3'), event(8, 'SNOOZED', 'RETRYING', 2, 'w3')], states.at(-1));
    expect(brief(later.at(-1)!)).toEqual({ version: 8, status: 'RETRYING', attempts: 1, workerIds: ['w2'], started: true });
  });

  it('a worker\'s RELEASED gives the attempt back; a workflow step\'s (BLOCKED → PENDING) gives nothing back', () => {
    const released = fold([event(1, 'ENQUEUED', 'PENDING', 0), event(2, 'STARTED', 'RUNNING', 1, 'w1'), event(3, 'RELEASED', 'PENDING', 1, 'w1')]);
    expect(brief(released.at(-1)!)).toEqual({ version: 3, status: 'PENDING', attempts: 0, workerIds: [], started: false });
    // A step failed once, retried while its parent runs again (BLOCKED), released when the parent ends.
    const step = fold([
      event(1, 'ENQUEUED', 'BLOCKED', 0),
      event(2, 'RELEASED', 'PENDING', 0),
      event(3, 'STARTED', 'RUNNING', 1, 'w1'),
      event(4, 'FAILED', 'FAILED', 1, 'w1'),
      event(5, 'RETRIED', 'BLOCKED', 1),
      event(6, 'RELEASED', 'PENDING', 1),
      event(7, 'STARTED', 'RUNNING', 2, 'w2'),
    ]);
    expect(step.slice(4).map(brief)).toEqual([
      { version: 5, status: 'BLOCKED', attempts: 1, workerIds: ['w1'], started: true },
      { version: 6, status: 'PENDING', attempts: 1, workerIds: ['w1'], started: true },
      { version: 7, status: 'RUNNING', attempts: 2, workerIds: ['w1', 'w2'], started: true },
    ]);
  });
});
