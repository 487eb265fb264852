import { describe, expect, it } from 'vitest';
import type { Task } from '../../src/queue/task.js';
import { matchesFilter, normalizeTaskFilter, statusMayMatch, type TaskFilter, type TaskFilterInput } from '../../src/queue/task-filter.js';

/** The dashboard's module, loaded in Node: it touches no DOM at import time. */
const live = (await import('../../src/dashboard/live.js' as string)) as {
  matches(task: unknown, filter: { status: string[]; queue: string; name: string }): boolean;
};

const T0 = new Date('2030-01-01T00:00:00Z');
const minutes = (n: number): Date => new Date(T0.getTime() + n * 60_000);

/** A task with the fields the rule reads (status, name, queue, enqueuedAt); the rest does not matter to it. */
function task(fields: Partial<Task> = {}): Task {
  return { id: '01900000-0000-7000-8000-000000000000', name: 'demo.echo', queue: 'default', status: 'PENDING', enqueuedAt: T0, ...fields } as Task;
}

describe('matchesFilter', () => {
  it('accepts every task when the filter is empty, or its status list is', () => {
    expect(matchesFilter(task(), {})).toBe(true);
    expect(matchesFilter(task({ status: 'FAILED' }), { status: [] })).toBe(true);
  });

  it.each<[string, TaskFilter, Partial<Task>, boolean]>([
    ['status in the list', { status: ['RUNNING', 'FAILED'] }, { status: 'FAILED' }, true],
    ['status not in the list', { status: ['RUNNING', 'FAILED'] }, { status: 'PENDING' }, false],
    ['the same name', { name: 'demo.echo' }, {}, true],
    ['another name', { name: 'demo.sleep' }, {}, false],
    ['a name that only differs in case', { name: 'Demo.Echo' }, {}, false],
    ['the same queue', { queue: 'mail' }, { queue: 'mail' }, true],
    ['another queue', { queue: 'mail' }, {}, false],
    ['the same tenant', { tenant: 'acme' }, { tenant: 'acme' }, true],
    ['another tenant', { tenant: 'acme' }, { tenant: 'globex' }, false],
    ['a task that carries no tenant, under a tenant condition', { tenant: 'default' }, { tenant: undefined }, false],
    ['any tenant when the filter names none', {}, { tenant: 'globex' }, true],
    ['an empty name is a name, not "any"', { name: '' }, {}, false],
    ['enqueued after', { enqueuedAfter: minutes(-1) }, {}, true],
    ['enqueued exactly at enqueuedAfter (strict)', { enqueuedAfter: T0 }, {}, false],
    ['enqueued before', { enqueuedBefore: minutes(1) }, {}, true],
    ['enqueued exactly at enqueuedBefore (strict)', { enqueuedBefore: T0 }, {}, false],
    ['every condition holding', { status: ['PENDING'], name: 'demo.echo', queue: 'default', enqueuedAfter: minutes(-1), enqueuedBefore: minutes(1) }, {}, true],
    ['all but one holding', { status: ['PENDING'], name: 'demo.echo', queue: 'other', enqueuedAfter: minutes(-1) }, {}, false],
  ])('%s → %s', (_what, filter, fields, expected) => {
    expect(matchesFilter(task(fields), filter)).toBe(expected);
  });

  it('compares times given as ISO strings (the dashboard) like Dates (the server)', () => {
    const browserTask = { status: 'PENDING', name: 'demo.echo', queue: 'default', enqueuedAt: T0.toISOString() };
    expect(matchesFilter(browserTask as unknown as Task, { enqueuedAfter: minutes(-1), enqueuedBefore: minutes(1) })).toBe(true);
    expect(matchesFilter(browserTask as unknown as Task, { enqueuedAfter: T0 })).toBe(false);
  });
});

describe('statusMayMatch', () => {
  it('says whether a status alone can rule a task out', () => {
    expect(statusMayMatch({}, 'RUNNING')).toBe(true);
    expect(statusMayMatch({ status: [] }, 'RUNNING')).toBe(true);
    expect(statusMayMatch({ status: ['FAILED'] }, 'RUNNING')).toBe(false);
    expect(statusMayMatch({ status: ['FAILED', 'RUNNING'], name: 'nothing' }, 'RUNNING')).toBe(true);
  });
});

describe('normalizeTaskFilter', () => {
  it('drops conditions that are not given (null from GraphQL, or undefined)', () => {
    const input: TaskFilterInput = { status: null, name: 'demo.echo', queue: undefined, enqueuedAfter: null, enqueuedBefore: T0 };
    expect(normalizeTaskFilter(input)).toEqual({ name: 'demo.echo', enqueuedBefore: T0 });
    expect(normalizeTaskFilter(null)).toEqual({});
    expect(normalizeTaskFilter(undefined)).toEqual({});
  });

  it.each<[string, unknown, string]>([
    ['a status that is not one', { status: ['PENDING', 'DONE'] }, 'filter.status'],
    ['a status that is not a list', { status: 'PENDING' }, 'filter.status'],
    ['a NUL character in the name', { name: 'a\u0000b' }, 'filter.name'],
    ['a lone surrogate in the queue', { queue: 'q\ud800' }, 'filter.queue'],
    ['a queue that is not text', { queue: 42 }, 'filter.queue'],
    ['a NUL character in the tenant', { tenant: 'a\u0000b' }, 'filter.tenant'],
    ['a date PostgreSQL cannot store', { enqueuedAfter: new Date('0000-06-01T00:00:00Z') }, 'filter.enqueuedAfter'],
    ['an invalid date', { enqueuedBefore: new Date(Number.NaN) }, 'filter.enqueuedBefore'],
    ['a date given as text', { enqueuedBefore: '2030-01-01' }, 'filter.enqueuedBefore'],
  ])('refuses %s with BAD_USER_INPUT naming the field', (_what, input, field) => {
    expect(() => normalizeTaskFilter(input as TaskFilterInput)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', field }));
  });
});

describe("the dashboard's matches (live.js)", () => {
  // The browser runs src/queue/task-filter-match.js as it is: the same answers, from the
  // dashboard's form of a filter (empty strings and an empty list mean "any").
  it('gives the same answers as matchesFilter', () => {
    const tasks = [task(), task({ status: 'FAILED', queue: 'mail' }), task({ name: 'demo.sleep', queue: 'mail' })];
    const filters = [
      { status: [], queue: '', name: '' },
      { status: ['FAILED'], queue: '', name: '' },
      { status: [], queue: 'mail', name: '' },
      { status: [], queue: 'mail', name: 'demo.sleep' },
    ];
    const asCore = (f: (typeof filters)[number]): TaskFilter => ({
      ...(f.status.length ? { status: f.status as Task['status'][] } : {}),
      ...(f.queue ? { queue: f.queue } : {}),
      ...(f.name ? { name: f.name } : {}),
    });
    const answers = filters.map((f) => tasks.map((t) => live.matches(t, f)));
    expect(answers).toEqual(filters.map((f) => tasks.map((t) => matchesFilter(t, asCore(f)))));
    expect(answers).toEqual([
      [true, true, true],
      [false, true, false],
      [false, true, true],
      [false, false, true],
    ]);
  });
});
