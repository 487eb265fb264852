import { describe, expect, it } from 'vitest';
import type { Task } from '../../src/queue/task.js';
import { createHeldTasks } from '../../src/worker/held-tasks.js';

const task = (id: string): Task => ({ id, name: 'n', queue: 'default', attempts: 1 }) as unknown as Task;

describe('held tasks', () => {
  it('counts the running attempts that started at or before a time, and forgets those that ended', () => {
    const held = createHeldTasks();
    const first = held.startRunning(task('a'));
    const second = held.startRunning(task('b'));
    expect(second.startedAt).toBeGreaterThanOrEqual(first.startedAt);
    expect(held.runningSince(first.startedAt - 1)).toBe(0);
    expect(held.runningSince(first.startedAt)).toBe(second.startedAt === first.startedAt ? 2 : 1);
    expect(held.runningSince(second.startedAt)).toBe(2);
    held.toRecording(first.task);
    expect(held.runningSince(second.startedAt)).toBe(1);
  });
});
