import { Kind, parse, visit, type ASTNode, type DocumentNode, type ExecutionArgs } from 'graphql';
import { describe, expect, it } from 'vitest';
import { literalField, variableErrors } from '../../src/graphql/input-errors.js';
import { schema } from '../../src/graphql/schema.js';

// How bad input found before anything runs names its field (docs/graphql.md, Errors): the path a
// resolver's error would name, `input.runAfter`, `input.steps[1].task.name`. Pure functions over the
// schema; test/server/request-errors.test.ts checks them on every transport.

/** The first string literal of `document` whose value is `value`. */
function stringNode(document: DocumentNode, value: string): ASTNode {
  let found: ASTNode | undefined;
  visit(document, { StringValue: (node) => void (node.value === value && (found ??= node)) });
  if (!found) throw new Error(`no "${value}" in the document`);
  return found;
}

describe('literalField', () => {
  it.each([
    ['an input field of an argument', '{ tasks(filter: {enqueuedAfter: "X"}) { totalCount } }', 'filter.enqueuedAfter'],
    ['an argument itself', '{ taskResult(id: "X") { id } }', 'id'],
    ['a list item in nested input', 'mutation { enqueueWorkflow(input: {steps: [{ref: "a", task: {name: "n"}}, {ref: "b", task: {name: "n", runAfter: "X"}}]}) { id } }', 'input.steps[1].task.runAfter'],
    ['a variable\'s default value', 'query ($f: TaskFilter = {enqueuedBefore: "X"}) { tasks(filter: $f) { totalCount } }', 'f.enqueuedBefore'],
  ])('names %s', (_what, query, field) => {
    const document = parse(query);
    expect(literalField(document, stringNode(document, 'X'))).toBe(field);
  });

  it('names nothing for a node outside any argument (an alias, a field)', () => {
    const document = parse('{ x: tasks(first: 1) { totalCount } }');
    const field = document.definitions[0]?.kind === Kind.OPERATION_DEFINITION ? document.definitions[0].selectionSet.selections[0] : undefined;
    expect(literalField(document, field as ASTNode)).toBeUndefined();
  });
});

describe('variableErrors', () => {
  const WORKFLOW = 'mutation ($w: EnqueueWorkflowInput!) { enqueueWorkflow(input: $w) { id } }';
  const LIST = 'query ($f: TaskFilter) { tasks(filter: $f) { totalCount } }';
  const fields = (query: string, variableValues: Record<string, unknown>): unknown[] =>
    variableErrors({ schema, document: parse(query), variableValues } as ExecutionArgs).map((e) => e.extensions);

  it('names nothing when every variable coerces (and an absent nullable one)', () => {
    expect(fields(LIST, { f: { status: ['PENDING'], enqueuedAfter: '2030-01-01T00:00:00Z' } })).toEqual([]);
    expect(fields(LIST, {})).toEqual([]);
  });

  it('names a required field left out deep in a list, by its index', () => {
    const w = { steps: [{ ref: 'a', task: { name: 'demo.echo' } }, { ref: 'b', task: { priority: 1 } }] };
    expect(fields(WORKFLOW, { w })).toEqual([{ code: 'BAD_USER_INPUT', field: 'w.steps[1].task.name' }]);
  });

  it('names a field of a single value taken as a list of one without an index', () => {
    expect(fields(WORKFLOW, { w: { steps: { ref: 'a', task: { name: 'demo.echo', nope: 1 } } } })).toEqual([{ code: 'BAD_USER_INPUT', field: 'w.steps.task.nope' }]);
    expect(fields(LIST, { f: { status: 'NOPE' } })).toEqual([{ code: 'BAD_USER_INPUT', field: 'f.status' }]);
  });

  it('names an unknown key even when its name reads like graphql-js\'s wording', () => {
    const key = 'x" is not defined by type "TaskFilter". Field "name';
    expect(fields(LIST, { f: { [key]: 1 } })).toEqual([{ code: 'BAD_USER_INPUT', field: `f.${key}` }]);
  });

  it('stops at 50 errors, as the executor does, and cuts a long value short in the message', () => {
    const errors = variableErrors({ schema, document: parse(LIST), variableValues: { f: { status: Array.from({ length: 80 }, () => 'NOPE') } } } as ExecutionArgs);
    expect(errors).toHaveLength(50);
    const object = variableErrors({ schema, document: parse(LIST), variableValues: { f: { nope: 'x'.repeat(500) } } } as ExecutionArgs)[0];
    expect(object?.message.length).toBeLessThan(250);
  });
});
