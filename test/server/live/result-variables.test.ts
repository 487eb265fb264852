import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../../src/graphql/schema.js';
import { resultVariablesOf } from '../../../src/server/live/result-variables.js';

// The sharing key of subscription results leaves out variables only the root field's arguments
// use (src/server/live/result-variables.ts). Sound only while every Subscription field's resolve
// ignores its arguments, and only for those variables: anything else must stay in the key.
const vars = (text: string, operationName?: string): readonly string[] | null => resultVariablesOf(parse(text), operationName);

describe('resultVariablesOf', () => {
  it('leaves out variables used only in the root field’s arguments', () => {
    expect(vars('subscription F($after: String, $f: TaskFilter) { taskEventFeed(after: $after, filter: $f) { taskId cursor } }')).toEqual([]);
    expect(vars('subscription E($id: ID!, $v: Int) { taskEvents(id: $id, afterVersion: $v) { version } }')).toEqual([]);
  });

  it('keeps variables of nested arguments, of @include/@skip (on the root field too) and of fragments', () => {
    expect(vars('subscription F($after: String, $n: Int) { taskEventFeed(after: $after) { task { events(first: $n) { edges { cursor } } } } }')).toEqual(['n']);
    expect(vars('subscription F($after: String, $t: Boolean!) { taskEventFeed(after: $after) { taskId task @include(if: $t) { name } } }')).toEqual(['t']);
    expect(vars('subscription F($after: String, $on: Boolean!) { taskEventFeed(after: $after) @skip(if: $on) { taskId } }')).toEqual(['on']);
    expect(vars('subscription F($a: String, $s: Boolean!) { taskEventFeed(after: $a) { ...E } } fragment E on TaskEvent { taskId @skip(if: $s) }')).toEqual(['s']);
  });

  it('keeps a variable the root field’s arguments share with a nested field', () => {
    expect(vars('subscription F($t: [TaskEventType!]) { taskEvents(id: "x", types: $t) { task { events(types: $t) { edges { cursor } } } } }')).toEqual(['t']);
  });

  it('keys on every variable when the root is not one plain field or the operation is not known', () => {
    expect(vars('subscription F($a: String) { ... on Subscription { taskEventFeed(after: $a) { taskId } } }')).toBeNull();
    expect(vars('subscription F($id: ID!) { taskEvents(id: $id) { version } other: taskEvents(id: $id) { version } }')).toBeNull();
    expect(vars('subscription A($a: String) { taskEventFeed(after: $a) { taskId } } subscription B { taskEventFeed { taskId } }')).toBeNull();
    expect(vars('subscription A($a: String) { taskEventFeed(after: $a) { taskId } } subscription B($n: Int) { taskEventFeed { task { events(first: $n) { edges { cursor } } } } }', 'B')).toEqual(['n']);
  });

  it('holds for this schema: every Subscription field’s resolve returns its event whatever its arguments', () => {
    const fields = Object.values(schema.getSubscriptionType()?.getFields() ?? {});
    expect(fields.length).toBeGreaterThan(0);
    for (const field of fields) {
      const event = { some: 'event' };
      const info = { fieldName: field.name } as never;
      for (const args of [{}, { id: 'a', afterVersion: 1, after: 'x', filter: { name: 'n' }, types: ['OUTPUT'] }]) {
        expect(field.resolve?.(event, args, {}, info), `Subscription.${field.name}`).toBe(event);
      }
    }
  });
});
