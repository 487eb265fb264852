import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { Task } from '../../src/queue/task.js';
import { matchesFilter, normalizeTaskFilter } from '../../src/queue/task-filter.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { useTestApp } from '../helpers/app.js';

const env = useTestApp();

describe('TaskFilter.workflowId', () => {
  it('is checked: a malformed id is BAD_USER_INPUT naming filter.workflowId; null means not given', () => {
    expect(() => normalizeTaskFilter({ workflowId: 'nope' })).toThrow(AppError);
    try {
      normalizeTaskFilter({ workflowId: 'nope' });
    } catch (error) {
      expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.workflowId' });
    }
    expect(normalizeTaskFilter({ workflowId: null })).toEqual({});
  });

  it('matches the steps of that workflow only, whatever the case of the id', () => {
    const id = uuidv7();
    const step = { workflowId: id } as Partial<Task> as Task;
    expect(matchesFilter(step, { workflowId: id })).toBe(true);
    expect(matchesFilter(step, { workflowId: id.toUpperCase() })).toBe(true);
    expect(matchesFilter(step, { workflowId: uuidv7() })).toBe(false);
    expect(matchesFilter({ workflowId: null } as Partial<Task> as Task, { workflowId: id })).toBe(false);
  });

  it('selects in listTasks exactly what the rule accepts', async () => {
    const { queue } = env.app.deps;
    const one = await queue.workflows.enqueue({ steps: [{ ref: 'a', task: { name: 'demo.echo' } }, { ref: 'b', task: { name: 'demo.echo' }, dependsOn: ['a'] }] });
    const other = await queue.workflows.enqueue({ steps: [{ ref: 'a', task: { name: 'demo.echo' } }] });
    await queue.enqueue({ name: 'demo.echo' });
    const all = (await queue.listTasks({ first: 100 })).tasks;
    for (const workflowId of [one.id, other.id, one.id.toUpperCase(), uuidv7()]) {
      const listed = (await queue.listTasks({ first: 100, filter: { workflowId } })).tasks.map((t) => t.id).sort();
      expect(listed).toEqual(all.filter((t) => matchesFilter(t, { workflowId })).map((t) => t.id).sort());
    }
    expect((await queue.listTasks({ first: 100, filter: { workflowId: one.id } })).tasks.map((t) => t.stepRef).sort()).toEqual(['a', 'b']);
  });
});
