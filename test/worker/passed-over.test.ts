import { describe, expect, it } from 'vitest';
import type { Task } from '../../src/queue/task.js';
import { createPassedOver } from '../../src/worker/passed-over.js';

const task = (id: string): Task => ({ id }) as Task;

describe('createPassedOver (tasks a worker handed back for want of a handler)', () => {
  it('lists each task until its time, and one array until something changes', () => {
    let now = 1000;
    const list = createPassedOver(10, () => now);
    expect(list.ids()).toEqual([]);
    expect(list.add(task('a'), 2000)).toBe(true);
    expect(list.add(task('b'), 1500)).toBe(true);
    const ids = list.ids();
    expect(ids).toEqual(['a', 'b']);
    expect(list.ids()).toBe(ids);
    now = 1500;
    expect(list.ids()).toEqual(['a']);
    now = 2000;
    expect(list.ids()).toEqual([]);
  });

  it('refuses a task while full of live entries, and takes it once one has expired', () => {
    let now = 0;
    const list = createPassedOver(2, () => now);
    expect(list.add(task('a'), 100)).toBe(true);
    expect(list.add(task('b'), 200)).toBe(true);
    expect(list.add(task('c'), 300)).toBe(false);
    // A task already listed gets its new time however full the list is.
    expect(list.add(task('a'), 150)).toBe(true);
    now = 160;
    expect(list.add(task('c'), 300)).toBe(true);
    expect(list.ids()).toEqual(['b', 'c']);
  });
});
