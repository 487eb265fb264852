import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.js';
import { onlyError } from '../helpers/graphql.js';

// The DateTime scalar refuses a day or time that does not exist (queue/dates.ts parseDateTime)
// the way it refuses a malformed one: BAD_USER_INPUT, for a literal and for a variable, both
// naming the field in extensions.field (and the variable's message too). new Date() used to roll
// 2030-02-31 over to 2030-03-03.
const env = useTestServer();

const ENQUEUE_VARIABLE = 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { runAfter } } }';
const enqueueLiteral = (runAfter: string) => `mutation { enqueueTask(input: {name: "demo.echo", args: [1], runAfter: ${JSON.stringify(runAfter)}}) { task { runAfter } } }`;
const LIST_VARIABLE = 'query($filter: TaskFilter) { tasks(first: 1, filter: $filter) { totalCount } }';
const listLiteral = (after: string) => `{ tasks(first: 1, filter: {enqueuedAfter: ${JSON.stringify(after)}}) { totalCount } }`;

const IMPOSSIBLE = ['2030-02-31T00:00:00Z', '2030-02-29T00:00:00Z', '2100-02-29T00:00:00Z', '2030-04-31T00:00:00Z', '2030-02-29T00:30:00+01:00', '2030-01-01T24:00:00Z', '2030-12-31T23:59:60Z'];
/** Refused before the fix too: the error an impossible date gets must look the same. */
const MALFORMED = '2030-13-01T00:00:00Z';
const message = (value: string) => `DateTime must be an ISO-8601 date-time with a zone, of a day and time that exist, e.g. "2025-01-31T12:00:00Z"; got ${JSON.stringify(value)}`;

describe('DateTime input', () => {
  it.each([MALFORMED, ...IMPOSSIBLE])('refuses runAfter %j in a variable as BAD_USER_INPUT naming input.runAfter, storing nothing', async (value) => {
    const { server } = env;
    const before = await server.countTasks();
    const res = await server.post({ query: ENQUEUE_VARIABLE, variables: { input: { name: 'demo.echo', args: [1], runAfter: value } } });
    const error = onlyError(res);
    expect(error.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.runAfter' });
    expect(error.message).toBe(`Variable "$input" got invalid value ${JSON.stringify(value)} at "input.runAfter"; ${message(value)}`);
    expect(res.status).toBe(400);
    expect(res.data).toBeUndefined();
    expect(await server.countTasks()).toBe(before);
  });

  it.each([MALFORMED, ...IMPOSSIBLE])('refuses runAfter %j as a literal as BAD_USER_INPUT at the value, naming input.runAfter, storing nothing', async (value) => {
    const { server } = env;
    const before = await server.countTasks();
    const query = enqueueLiteral(value);
    const res = await server.post({ query });
    const error = onlyError(res);
    // graphql-js reports a literal's error at its node, without a path: the field is found in the document.
    expect(error.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.runAfter' });
    expect(error.message).toBe(message(value));
    // Its location is the runAfter value.
    expect(error.locations).toEqual([{ line: 1, column: query.indexOf('runAfter: ') + 'runAfter: '.length + 1 }]);
    expect(res.status).toBe(400);
    expect(await server.countTasks()).toBe(before);
  });

  it.each([MALFORMED, '2030-02-31T00:00:00Z', '2028-02-30T00:00:00Z'])('refuses tasks(filter: {enqueuedAfter: %j}) as BAD_USER_INPUT naming filter.enqueuedAfter, in a variable and as a literal', async (value) => {
    const { server } = env;
    const variable = onlyError(await server.post({ query: LIST_VARIABLE, variables: { filter: { enqueuedAfter: value } } }));
    expect(variable.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'filter.enqueuedAfter' });
    expect(variable.message).toBe(`Variable "$filter" got invalid value ${JSON.stringify(value)} at "filter.enqueuedAfter"; ${message(value)}`);
    const literal = onlyError(await server.post({ query: listLiteral(value) }));
    expect(literal.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'filter.enqueuedAfter' });
    expect(literal.message).toBe(message(value));
  });

  it.each([
    ['2028-02-29T12:00:00Z', '2028-02-29T12:00:00.000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000Z'],
    // An offset moves the instant across a day: the written date is what must exist.
    ['2030-03-01T00:30:00+01:00', '2030-02-28T23:30:00.000Z'],
    ['2030-04-30T23:59:59.999Z', '2030-04-30T23:59:59.999Z'],
  ])('takes runAfter %j, as a variable and as a literal, as %s', async (value, iso) => {
    const { server } = env;
    const variable = await server.post({ query: ENQUEUE_VARIABLE, variables: { input: { name: 'demo.echo', args: [1], runAfter: value } } });
    const literal = await server.post({ query: enqueueLiteral(value) });
    for (const res of [variable, literal]) {
      expect(res.errors).toBeUndefined();
      expect(res.data).toEqual({ enqueueTask: { task: { runAfter: iso } } });
    }
  });
});
