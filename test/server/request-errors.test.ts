import { parse, type GraphQLFormattedError } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { Client } from 'graphql-ws';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.js';

// Malformed requests are answered as what they are (docs/graphql.md, Errors): a 4xx with a code of
// ERROR_CODES and a message naming the parameter, only `code` (and `field`) in `extensions`, and
// nothing logged as an error, over every way in (the fast path, yoga's GET and POST, SSE, graphql-ws).

/** Log lines at error level or above (pino: 50), written by the server under test. */
const errorLines: string[] = [];
const log = pino({ level: 'info' }, { write: (line: string) => void (JSON.parse(line).level >= 50 && errorLines.push(line)) });
const ctx = useTestServer({ log });

beforeEach(() => {
  errorLines.length = 0;
});

interface Answer {
  status: number;
  errors: GraphQLFormattedError[];
}

const GRAPHQL_RESPONSE = 'application/graphql-response+json';

async function get(params: Record<string, string | string[] | undefined>, accept = GRAPHQL_RESPONSE): Promise<Answer> {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) for (const v of [value ?? []].flat()) search.append(name, v);
  const res = await fetch(`${ctx.server.url}?${search}`, { headers: { accept } });
  return { status: res.status, errors: ((await res.json()) as { errors: GraphQLFormattedError[] }).errors };
}

async function post(body: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(ctx.server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: GRAPHQL_RESPONSE, ...headers }, body });
  return { status: res.status, errors: ((await res.json()) as { errors: GraphQLFormattedError[] }).errors };
}

/** The errors of an `error` message over graphql-ws. */
function overWs(client: Client, payload: { query: string; operationName?: string }): Promise<readonly GraphQLFormattedError[]> {
  return new Promise((resolve, reject) => {
    client.subscribe(payload, {
      next: () => reject(new Error('expected an error message, got next')),
      error: (e) => (Array.isArray(e) ? resolve(e as GraphQLFormattedError[]) : reject(e instanceof Error ? e : new Error(String(e)))),
      complete: () => reject(new Error('expected an error message, got complete')),
    });
  });
}

/** The one error, checked to carry `code` and nothing else in its extensions. */
function only(answer: { errors: readonly GraphQLFormattedError[] }, code: string): GraphQLFormattedError {
  expect(answer.errors).toHaveLength(1);
  const error = answer.errors[0] as GraphQLFormattedError;
  expect(error.extensions).toEqual({ code });
  return error;
}

const NEEDS_ID = 'query ($id: ID!) { taskResult(id: $id) { id } }';

describe('GET /graphql with malformed parameters', () => {
  it('answers a "variables" that is not JSON with 400 BAD_REQUEST naming it, and logs no error', async () => {
    for (const accept of [GRAPHQL_RESPONSE, 'application/json']) {
      const answer = await get({ query: NEEDS_ID, variables: '{bad' }, accept);
      expect(answer.status).toBe(400);
      expect(only(answer, 'BAD_REQUEST').message).toContain('"variables"');
    }
    expect(errorLines).toEqual([]);
  });

  it('answers an "extensions" that is not JSON with 400 BAD_REQUEST naming it, and logs no error', async () => {
    const answer = await get({ query: NEEDS_ID, extensions: '{bad' });
    expect(answer.status).toBe(400);
    expect(only(answer, 'BAD_REQUEST').message).toContain('"extensions"');
    expect(errorLines).toEqual([]);
  });

  it('answers a parameter given twice with 400 BAD_REQUEST naming it, rather than picking one', async () => {
    const answer = await get({ query: 'query A { __typename } query B { __typename }', operationName: ['A', 'B'] });
    expect(answer.status).toBe(400);
    expect(only(answer, 'BAD_REQUEST').message).toContain('"operationName"');
  });

  it('still runs a well-formed GET, variables and all', async () => {
    const res = await fetch(`${ctx.server.url}?${new URLSearchParams({ query: `${NEEDS_ID.replace('query', 'query Q')} query R { __typename }`, variables: '{"id":"0193c1a2-0000-7000-8000-000000000000"}', operationName: 'Q' })}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { taskResult: null } });
  });
});

describe('error extensions', () => {
  it('carry only the code for a POST body that is not JSON, with one clean message', async () => {
    const answer = await post('not json');
    expect(answer.status).toBe(400);
    expect(only(answer, 'BAD_REQUEST').message).toBe('POST body sent invalid JSON.');
    expect(errorLines).toEqual([]);
  });

  it('carry only the code for a validation error over graphql-ws (no `http`)', async () => {
    const errors = await overWs(ctx.server.wsClient(), { query: '{ nope }' });
    only({ errors }, 'GRAPHQL_VALIDATION_FAILED');
  });

  it('keep the HTTP status yoga chose from the hidden `http` (a validation error: 400, 200 under application/json)', async () => {
    expect((await post(JSON.stringify({ query: '{ nope }' }))).status).toBe(400);
    const json = await post(JSON.stringify({ query: '{ nope }' }), { accept: 'application/json' });
    expect(json.status).toBe(200);
    only(json, 'GRAPHQL_VALIDATION_FAILED');
  });
});

describe('an operation that cannot be identified', () => {
  const TWO = 'query A { __typename } query B { __typename }';
  const cases = [
    { name: 'two operations, no operationName', body: { query: TWO }, words: /operationName/ },
    { name: 'an operationName the document lacks', body: { query: 'query A { __typename }', operationName: 'Nope' }, words: /"Nope".*operationName/ },
  ];

  for (const c of cases) {
    it(`is GRAPHQL_VALIDATION_FAILED (400) naming operationName: ${c.name}, on the fast path`, async () => {
      const answer = await post(JSON.stringify(c.body));
      expect(answer.status).toBe(400);
      expect(only(answer, 'GRAPHQL_VALIDATION_FAILED').message).toMatch(c.words);
    });

    it(`is GRAPHQL_VALIDATION_FAILED (400) naming operationName: ${c.name}, through yoga's POST`, async () => {
      // An Accept list is not one the fast path takes (fast-path.ts acceptedType).
      const answer = await post(JSON.stringify(c.body), { accept: `${GRAPHQL_RESPONSE}, application/json;q=0.9` });
      expect(answer.status).toBe(400);
      expect(only(answer, 'GRAPHQL_VALIDATION_FAILED').message).toMatch(c.words);
    });

    it(`is GRAPHQL_VALIDATION_FAILED (400) naming operationName: ${c.name}, over GET`, async () => {
      const answer = await get(c.body);
      expect(answer.status).toBe(400);
      expect(only(answer, 'GRAPHQL_VALIDATION_FAILED').message).toMatch(c.words);
    });

    it(`is GRAPHQL_VALIDATION_FAILED naming operationName: ${c.name}, over SSE`, async () => {
      const res = await fetch(ctx.server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify(c.body) });
      const text = await res.text();
      const data = /^data: (\{.*\})$/m.exec(text)?.[1];
      expect(data, text).toBeDefined();
      const error = only(JSON.parse(data as string) as { errors: GraphQLFormattedError[] }, 'GRAPHQL_VALIDATION_FAILED');
      expect(error.message).toMatch(c.words);
    });

    it(`is GRAPHQL_VALIDATION_FAILED naming operationName: ${c.name}, over graphql-ws`, async () => {
      const errors = await overWs(ctx.server.wsClient(), c.body);
      expect(only({ errors }, 'GRAPHQL_VALIDATION_FAILED').message).toMatch(c.words);
    });
  }
});

/** A document for the subscription helpers, which take typed ones. */
const typed = (query: string): TypedDocumentNode<unknown, Record<string, unknown>> => parse(query) as TypedDocumentNode<unknown, Record<string, unknown>>;

/** Status and `event: next` data of an SSE request (POST, Accept: text/event-stream). */
async function overSse(body: unknown): Promise<{ status: number; errors: GraphQLFormattedError[] }> {
  const res = await fetch(ctx.server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify(body) });
  const text = await res.text();
  const data = /^event: next\ndata: (\{.*\})$/m.exec(text)?.[1];
  expect(data, text).toBeDefined();
  return { status: res.status, errors: (JSON.parse(data as string) as { errors: GraphQLFormattedError[] }).errors };
}

const ENQUEUE = 'mutation ($i: EnqueueTaskInput!) { enqueueTask(input: $i) { task { id } } }';
const LIST = 'query ($f: TaskFilter) { tasks(first: 1, filter: $f) { totalCount } }';
const WATCH = 'subscription ($id: ID!) { taskStatusChanged(id: $id) { id } }';
const NO_SUCH_DAY = '2030-02-31T00:00:00Z';
const extensionsOf = (errors: readonly GraphQLFormattedError[]): unknown[] => errors.map((e) => e.extensions);

describe('a variable that does not coerce', () => {
  const cases = [
    { name: 'a value of the wrong type', variables: { i: { name: 'demo.echo', priority: 'high' } }, field: 'i.priority' },
    { name: 'a DateTime of a day that does not exist', variables: { i: { name: 'demo.echo', runAfter: NO_SUCH_DAY } }, field: 'i.runAfter' },
    { name: 'a required input field left out', variables: { i: { priority: 1 } }, field: 'i.name' },
    { name: 'an input field the type does not have', variables: { i: { name: 'demo.echo', nope: 1 } }, field: 'i.nope' },
    { name: 'a value that is not an object', variables: { i: 'demo.echo' }, field: 'i' },
    { name: 'null for a non-null variable', variables: { i: null }, field: 'i' },
    { name: 'a required variable not given', variables: {}, field: 'i' },
  ];

  it.each(cases)('is 400 BAD_USER_INPUT with extensions.field $field, storing nothing: $name', async ({ variables, field }) => {
    const before = await ctx.server.countTasks();
    const answer = await post(JSON.stringify({ query: ENQUEUE, variables }));
    expect(answer.status).toBe(400);
    expect(extensionsOf(answer.errors)).toEqual([{ code: 'BAD_USER_INPUT', field }]);
    expect(await ctx.server.countTasks()).toBe(before);
    expect(errorLines).toEqual([]);
  });

  it('names each bad value of a variable, a list item by its index, and keeps graphql-js\'s wording', async () => {
    const answer = await post(JSON.stringify({ query: LIST, variables: { f: { status: ['PENDING', 'NOPE'], enqueuedAfter: NO_SUCH_DAY } } }));
    expect(answer.status).toBe(400);
    expect(extensionsOf(answer.errors)).toEqual([
      { code: 'BAD_USER_INPUT', field: 'f.status[1]' },
      { code: 'BAD_USER_INPUT', field: 'f.enqueuedAfter' },
    ]);
    expect(answer.errors[1]?.message).toMatch(/^Variable "\$f" got invalid value "2030-02-31T00:00:00Z" at "f.enqueuedAfter"; DateTime must be/);
  });

  it('names the field over every way in: the fast path, yoga\'s POST, GET, SSE and graphql-ws', async () => {
    const body = { query: LIST, variables: { f: { enqueuedAfter: NO_SUCH_DAY } } };
    const expected = [{ code: 'BAD_USER_INPUT', field: 'f.enqueuedAfter' }];
    const fast = await post(JSON.stringify(body));
    // An Accept list is not one the fast path takes (fast-path.ts acceptedType).
    const yoga = await post(JSON.stringify(body), { accept: `${GRAPHQL_RESPONSE}, application/json;q=0.9` });
    const overGet = await get({ query: body.query, variables: JSON.stringify(body.variables) });
    for (const answer of [fast, yoga, overGet]) {
      expect(answer.status).toBe(400);
      expect(extensionsOf(answer.errors)).toEqual(expected);
    }
    expect(extensionsOf((await overSse(body)).errors)).toEqual(expected);
    const ws = ctx.server.subscribeWs(typed(LIST), body.variables);
    await ws.done;
    expect(extensionsOf(ws.errors)).toEqual(expected);
  });
});

describe('a literal a scalar refuses', () => {
  it('is BAD_USER_INPUT with extensions.field naming the argument path, over HTTP and graphql-ws', async () => {
    const literal = await post(JSON.stringify({ query: `mutation { enqueueTask(input: {name: "demo.echo", runAfter: "${NO_SUCH_DAY}"}) { task { id } } }` }));
    expect(literal.status).toBe(400);
    expect(extensionsOf(literal.errors)).toEqual([{ code: 'BAD_USER_INPUT', field: 'input.runAfter' }]);
    const errors = await overWs(ctx.server.wsClient(), { query: `{ tasks(first: 1, filter: {enqueuedAfter: "${NO_SUCH_DAY}"}) { totalCount } }` });
    expect(extensionsOf(errors)).toEqual([{ code: 'BAD_USER_INPUT', field: 'filter.enqueuedAfter' }]);
  });

  it('of a built-in type (a String for an Int, an Int past 32 bits, an unknown enum value) is named the same way', async () => {
    const cases: [string, string][] = [
      ['mutation { enqueueTask(input: {name: "demo.echo", priority: "high"}) { task { id } } }', 'input.priority'],
      ['{ tasks(first: 99999999999) { totalCount } }', 'first'],
      ['{ tasks(first: 1, filter: {status: [NOPE]}) { totalCount } }', 'filter.status[0]'],
    ];
    for (const [query, field] of cases) {
      const answer = await post(JSON.stringify({ query }));
      expect(extensionsOf(answer.errors), query).toEqual([{ code: 'GRAPHQL_VALIDATION_FAILED', field }]);
    }
  });

  it('in a variable\'s default value names the variable\'s path', async () => {
    const answer = await post(JSON.stringify({ query: `query ($f: TaskFilter = {enqueuedAfter: "${NO_SUCH_DAY}"}) { tasks(first: 1, filter: $f) { totalCount } }` }));
    expect(extensionsOf(answer.errors)).toEqual([{ code: 'BAD_USER_INPUT', field: 'f.enqueuedAfter' }]);
  });
});

describe('HTTP status of request errors', () => {
  it.each(['*/*', 'application/json', GRAPHQL_RESPONSE])('a POST with no query is 400 BAD_REQUEST under Accept %s (not a well-formed request)', async (accept) => {
    const answer = await post('{}', { accept });
    expect(answer.status).toBe(400);
    only(answer, 'BAD_REQUEST');
  });

  it('a GET with no query, and a POST body that is not JSON, are 400 under application/json too', async () => {
    expect((await get({}, 'application/json')).status).toBe(400);
    expect((await post('not json', { accept: 'application/json' })).status).toBe(400);
  });

  it('a subscription without its required variable is 400 under graphql-response+json (POST and GET), 200 under application/json and over SSE', async () => {
    const expected = [{ code: 'BAD_USER_INPUT', field: 'id' }];
    const strict = [await post(JSON.stringify({ query: WATCH })), await get({ query: WATCH })];
    for (const answer of strict) {
      expect(answer.status).toBe(400);
      expect(extensionsOf(answer.errors)).toEqual(expected);
    }
    const plain = await post(JSON.stringify({ query: WATCH }), { accept: 'application/json' });
    expect(plain.status).toBe(200);
    expect(extensionsOf(plain.errors)).toEqual(expected);
    const sse = await overSse({ query: WATCH });
    expect(sse.status).toBe(200);
    expect(extensionsOf(sse.errors)).toEqual(expected);
    const ws = ctx.server.subscribeWs(typed(WATCH), {});
    await ws.done;
    expect(extensionsOf(ws.errors)).toEqual(expected);
    expect(ctx.server.app.stats.subscriptions).toBe(0);
  });

  it('a query\'s or mutation\'s variable error stays 400 under application/json (as yoga\'s executor answers it)', async () => {
    const answer = await post(JSON.stringify({ query: LIST, variables: { f: { enqueuedAfter: NO_SUCH_DAY } } }), { accept: 'application/json' });
    expect(answer.status).toBe(400);
  });
});
