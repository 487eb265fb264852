import { request } from 'node:http';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelTaskDocument, EnqueueTaskDocument, RetryTaskDocument, TaskStatusChangedDocument } from '../generated/graphql.js';
import { onlyError, startTestServer, type Response, type TestServer } from '../helpers/graphql.js';

const logged: string[] = [];
const log = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });

let server: TestServer;
let finished: string;
beforeAll(async () => {
  server = await startTestServer({
    env: { MAX_ARGS_BYTES: '1000' },
    app: { limits: { maxDepth: 4, maxAliases: 5, maxFields: 100, maxTokens: 1000 }, maxBodyBytes: 100_000 },
    log,
    runner: {},
  });
  const task = (await server.execute(EnqueueTaskDocument, { input: { name: 'math.copysign', args: [1, 1] } })).data!.enqueueTask.task;
  await server.subscribeWs(TaskStatusChangedDocument, { id: task.id }).done;
  finished = task.id;
});
afterAll(async () => {
  await server?.close();
});

const UNKNOWN_ID = '0190a5f0-0000-7000-8000-000000000000';
const enqueueQuery = 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }';
const enqueue = (input: Record<string, unknown>) => server.post({ query: enqueueQuery, variables: { input } });

interface Case {
  name: string;
  send(): Promise<Pick<Response<unknown>, 'status' | 'errors'>>;
  code: string;
  field?: string;
  status?: number;
}

const cases: Case[] = [
  { name: 'an unknown task name', send: () => enqueue({ name: 'no.such.task' }), code: 'UNKNOWN_TASK', field: 'input.name' },
  { name: 'args failing the task schema', send: () => enqueue({ name: 'math.copysign', args: ['one', 1] }), code: 'INVALID_ARGUMENTS', field: 'input.args[0]' },
  { name: 'args that are not an array', send: () => enqueue({ name: 'math.copysign', args: { x: 1 } }), code: 'INVALID_ARGUMENTS', field: 'input.args' },
  { name: 'args over MAX_ARGS_BYTES', send: () => enqueue({ name: 'demo.echo', args: ['x'.repeat(2000)] }), code: 'INVALID_ARGUMENTS', field: 'input.args' },
  { name: 'a priority out of range', send: () => enqueue({ name: 'demo.echo', priority: 500 }), code: 'BAD_USER_INPUT', field: 'input.priority' },
  { name: 'maxAttempts out of range', send: () => enqueue({ name: 'demo.echo', maxAttempts: 0 }), code: 'BAD_USER_INPUT', field: 'input.maxAttempts' },
  { name: 'a variable of the wrong type', send: () => enqueue({ name: 'demo.echo', priority: 'high' }), code: 'BAD_USER_INPUT', field: 'input.priority', status: 400 },
  { name: 'a DateTime without a zone', send: () => enqueue({ name: 'demo.echo', runAfter: '2030-01-01 10:00' }), code: 'BAD_USER_INPUT', field: 'input.runAfter', status: 400 },
  { name: 'a DateTime literal of a day that does not exist', send: () => server.post({ query: 'mutation { enqueueTask(input: {name: "demo.echo", runAfter: "2030-02-31T00:00:00Z"}) { task { id } } }' }), code: 'BAD_USER_INPUT', field: 'input.runAfter', status: 400 },
  { name: 'a malformed id', send: () => server.post({ query: '{ taskResult(id: "42") { id } }' }), code: 'BAD_USER_INPUT', field: 'id' },
  { name: 'first: 1000', send: () => server.post({ query: '{ tasks(first: 1000) { totalCount } }' }), code: 'BAD_USER_INPUT', field: 'first' },
  { name: 'first and last together', send: () => server.post({ query: '{ tasks(first: 1, last: 1) { totalCount } }' }), code: 'BAD_USER_INPUT', field: 'last' },
  { name: 'a cursor not from this API', send: () => server.post({ query: '{ tasks(after: "bm9wZQ") { totalCount } }' }), code: 'BAD_USER_INPUT', field: 'after' },
  { name: 'cancelling an unknown task', send: () => server.execute(CancelTaskDocument, { id: UNKNOWN_ID }), code: 'NOT_FOUND', field: 'id' },
  { name: 'retrying an unknown task', send: () => server.execute(RetryTaskDocument, { id: UNKNOWN_ID }), code: 'NOT_FOUND', field: 'id' },
  { name: 'cancelling a finished task', send: () => server.execute(CancelTaskDocument, { id: finished }), code: 'CONFLICT', field: 'id' },
  { name: 'retrying a task that succeeded', send: () => server.execute(RetryTaskDocument, { id: finished }), code: 'CONFLICT', field: 'id' },
  { name: 'an unknown field', send: () => server.post({ query: '{ nope }' }), code: 'GRAPHQL_VALIDATION_FAILED', status: 400 },
  { name: 'a syntax error', send: () => server.post({ query: '{ tasks(' }), code: 'GRAPHQL_PARSE_FAILED', status: 400 },
  { name: 'a mutation over GET', send: () => get(`?query=${encodeURIComponent('mutation { cancelTask(id: "x") { id } }')}`), code: 'BAD_REQUEST', status: 405 },
  { name: 'fields nested deeper than maxDepth', send: () => server.post({ query: '{ tasks { edges { node { errors { at } } } } }' }), code: 'GRAPHQL_VALIDATION_FAILED', status: 400 },
  { name: 'more aliases than maxAliases', send: () => server.post({ query: `{ ${[1, 2, 3, 4, 5, 6].map((i) => `a${i}: queueStats { queue }`).join(' ')} }` }), code: 'GRAPHQL_VALIDATION_FAILED', status: 400 },
  { name: 'more fields than maxFields', send: () => server.post({ query: `{ queueStats { ${'queue '.repeat(101)} } }` }), code: 'GRAPHQL_VALIDATION_FAILED', status: 400 },
  { name: 'more tokens than maxTokens', send: () => server.post({ query: `{ ${'__typename '.repeat(1001)} }` }), code: 'GRAPHQL_PARSE_FAILED', status: 400 },
  { name: 'a batch (batching is off)', send: () => server.post([{ query: '{ __typename }' }, { query: '{ __typename }' }]), code: 'BAD_REQUEST', status: 400 },
  { name: 'a body that is not JSON', send: () => server.post('{"query": '), code: 'BAD_REQUEST', status: 400 },
  { name: 'a body over maxBodyBytes', send: () => enqueue({ name: 'demo.echo', args: ['x'.repeat(200_000)] }), code: 'PAYLOAD_TOO_LARGE', status: 413 },
  { name: 'a chunked body over maxBodyBytes', send: () => postChunked(200_000), code: 'PAYLOAD_TOO_LARGE', status: 413 },
];

async function get(search: string): Promise<Response<unknown>> {
  const res = await fetch(`${server.url}${search}`, { headers: { accept: 'application/graphql-response+json' } });
  const json = (await res.json()) as Pick<Response<unknown>, 'data' | 'errors'>;
  return { status: res.status, data: json.data, errors: json.errors };
}

/** A body without Content-Length, sent in pieces: the limit must hold while reading. */
function postChunked(bytes: number): Promise<Response<unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(server.url, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, data: undefined, errors: (JSON.parse(text) as Response<unknown>).errors }));
    });
    req.on('error', reject);
    const piece = 'x'.repeat(10_000);
    req.write(`{"query": "{ __typename }", "variables": {"pad": "`);
    const write = (left: number): void => {
      if (left <= 0) return void req.end('"}}');
      // Stop writing once the server answered (it closes the connection).
      if (req.destroyed) return;
      req.write(piece, () => write(left - piece.length));
    };
    write(bytes);
  });
}

async function expectServerUp(): Promise<void> {
  const res = await server.post({ query: '{ queueStats { queue total } }' });
  expect(res.status).toBe(200);
  expect(res.errors).toBeUndefined();
}

describe('errors', () => {
  it.each(cases)('$name → $code, nothing stored, the server stays up', async ({ send, code, field, status }) => {
    const before = await server.countTasks();
    const res = await send();
    const error = onlyError(res);
    expect(error.extensions?.code).toBe(code);
    if (field !== undefined) expect(error.extensions?.field).toBe(field);
    expect(res.status).toBe(status ?? 200);
    expect(res.status).not.toBe(500);
    expect(JSON.stringify(error)).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
    expect(await server.countTasks()).toBe(before);
    await expectServerUp();
  });

  it('an idempotency key of another task name is a CONFLICT naming the key', async () => {
    await enqueue({ name: 'demo.echo', idempotencyKey: 'conflict-key', runAfter: new Date(Date.now() + 3_600_000).toISOString() });
    const before = await server.countTasks();
    const error = onlyError(await enqueue({ name: 'math.copysign', args: [1, 1], idempotencyKey: 'conflict-key' }));
    expect(error.extensions).toMatchObject({ code: 'CONFLICT', field: 'input.idempotencyKey' });
    expect(await server.countTasks()).toBe(before);
  });

  it('a subscription to an unknown id is NOT_FOUND over graphql-ws and SSE; a malformed one BAD_USER_INPUT', async () => {
    for (const subscribe of [server.subscribeWs.bind(server), server.subscribeSse.bind(server)]) {
      const unknown = subscribe(TaskStatusChangedDocument, { id: UNKNOWN_ID });
      await unknown.done;
      expect(unknown.values).toEqual([]);
      expect(unknown.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      const malformed = subscribe(TaskStatusChangedDocument, { id: 'nope' });
      await malformed.done;
      expect(malformed.errors.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'id']]);
    }
    const bothDocument = parse('subscription($id: ID, $filter: TaskFilter) { taskStatusChanged(id: $id, filter: $filter) { id } }');
    const both = server.subscribeWs(bothDocument as TypedDocumentNode<unknown, Record<string, unknown>>, { id: finished, filter: { name: 'x' } });
    await both.done;
    expect(both.errors.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'filter']]);
    expect(server.app.stats.subscriptions).toBe(0);
    await expectServerUp();
  });

  it('an error in a field of a subscription payload keeps its code and field, over graphql-ws and SSE', async () => {
    // Payloads run as compiled operations (src/server/live/shared-results.ts): a nested resolver's
    // typed error still reaches the client as graphql-js would report it, the other fields null.
    const document = parse('subscription($id: ID!) { taskStatusChanged(id: $id) { status name events(after: "bm9wZQ") { edges { cursor } } } }');
    for (const subscribe of [server.subscribeWs.bind(server), server.subscribeSse.bind(server)]) {
      const s = subscribe(document as TypedDocumentNode<{ taskStatusChanged: unknown }, { id: string }>, { id: finished });
      await s.done;
      expect(s.values).toEqual([]);
      expect(s.errors.map((e) => [e.extensions?.code, e.extensions?.field, e.path])).toEqual([['BAD_USER_INPUT', 'after', ['taskStatusChanged', 'events']]]);
    }
    await expectServerUp();
  });

  it('graphql-ws reports parse, validation and limit errors with their codes and keeps the socket', async () => {
    const client = server.wsClient();
    const run = (query: string) =>
      new Promise<unknown>((resolve) => {
        client.subscribe({ query }, { next: () => undefined, complete: () => resolve('complete'), error: (e) => resolve(e) });
      });
    const code = async (query: string) => ((await run(query)) as { extensions?: { code?: string } }[])[0]?.extensions?.code;
    expect(await code('subscription { taskStatusChanged(')).toBe('GRAPHQL_PARSE_FAILED');
    expect(await code('subscription { nope }')).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(await code('subscription { taskStatusChanged(id: "x") { errors { at } progress { current } } a: __typename b: __typename c: __typename d: __typename e: __typename f: __typename }')).toBe('GRAPHQL_VALIDATION_FAILED');
    const ok = server.subscribeWs(TaskStatusChangedDocument, { id: finished }, client);
    expect(await ok.done).toBe('complete');
    expect(ok.values.map((v) => v.taskStatusChanged.status)).toEqual(['SUCCEEDED']);
  });

  it('masks an unexpected error (no internals reach the client) and logs it', async () => {
    const sql = server.database.db.sql;
    await sql`ALTER TABLE tasks RENAME TO tasks_hidden`;
    let res: Response<Record<string, unknown>>;
    try {
      res = await server.post({ query: '{ queueStats { queue } }' });
    } finally {
      await sql`ALTER TABLE tasks_hidden RENAME TO tasks`;
    }
    const error = onlyError(res);
    expect(error.message).toBe('Unexpected error.');
    expect(error.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    expect(JSON.stringify(res)).not.toContain('tasks');
    expect(logged.some((line) => line.includes('tasks') && line.includes('"level":50'))).toBe(true);
    await expectServerUp();
  });
});
