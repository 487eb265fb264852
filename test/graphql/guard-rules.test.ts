import { describe, expect, it } from 'vitest';
import { GUARD_RULES, ROOT_TYPES, guardSchema, rootFields, unguardedFields, type GuardRules } from '../../src/graphql/guard.js';
import { schema } from '../../src/graphql/schema.js';

/** GUARD_RULES without `Type.field`. */
function without(path: string): GuardRules {
  const [type, field] = path.split('.') as [(typeof ROOT_TYPES)[number], string];
  const { [field]: _dropped, ...rest } = GUARD_RULES[type];
  return { ...GUARD_RULES, [type]: rest };
}

describe('GUARD_RULES', () => {
  it('has a rule for every root field of the schema, and none for a field that is gone', () => {
    const fields = rootFields(schema);
    expect(fields.length).toBeGreaterThanOrEqual(12);
    expect(unguardedFields(schema)).toEqual([]);
    const ruled = ROOT_TYPES.flatMap((type) => Object.keys(GUARD_RULES[type]).map((field) => `${type}.${field}`));
    expect(ruled.filter((path) => !fields.includes(path))).toEqual([]);
  });

  it.each(['Query.tasks', 'Mutation.cancelTask', 'Subscription.taskEventFeed'])('refuses to guard a schema when %s has no rule', (path) => {
    expect(unguardedFields(schema, without(path))).toEqual([path]);
    expect(() => guardSchema(schema, without(path))).toThrow(path);
  });

  it('lets read tokens into exactly the fields that read one task by id (and viewer)', () => {
    const open = ROOT_TYPES.flatMap((type) =>
      Object.entries(GUARD_RULES[type])
        .filter(([, rule]) => rule.readToken)
        .map(([field, rule]) => `${type}.${field}${rule.readToken?.requiredArg ? `(${rule.readToken.requiredArg})` : ''}`),
    );
    expect(open.sort()).toEqual(['Query.node', 'Query.taskResult', 'Query.viewer', 'Subscription.taskEvents', 'Subscription.taskStatusChanged(id)']);
  });

  it('asks a scope of every field but viewer, and every mutation something other than tasks:read but createReadToken', () => {
    const needs = ROOT_TYPES.flatMap((type) => Object.entries(GUARD_RULES[type]).map(([field, rule]) => [`${type}.${field}`, rule.needs]));
    expect(needs.filter(([, need]) => need === 'authenticated').map(([path]) => path)).toEqual(['Query.viewer']);
    expect(Object.fromEntries(Object.entries(GUARD_RULES.Mutation).map(([field, rule]) => [field, rule.needs]))).toEqual({
      enqueueTask: 'tasks:enqueue',
      enqueueTasks: 'tasks:enqueue',
      cancelTask: 'tasks:cancel',
      retryTask: 'tasks:retry',
      runTaskNow: 'tasks:retry',
      createReadToken: 'tasks:read',
      enqueueWorkflow: 'tasks:enqueue',
      cancelWorkflow: 'tasks:cancel',
      upsertSchedule: 'schedules:write',
      pauseSchedule: 'schedules:write',
      resumeSchedule: 'schedules:write',
      deleteSchedule: 'schedules:write',
      triggerSchedule: 'schedules:write',
      cancelTasks: 'tasks:cancel',
      retryTasks: 'tasks:retry',
      pauseQueue: 'queues:admin',
      resumeQueue: 'queues:admin',
      setQueueLimits: 'queues:admin',
    });
  });
});
