import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskStatusChangedDocument } from '../../generated/graphql.js';
import { startTestServer, type TestServer } from '../../helpers/graphql.js';
import { waitFor } from '../../helpers/wait.js';

// Subscriptions over plain HTTP (no stream): one that cannot start is a request error with a 4xx
// status (never 500), one that starts is 406 and is ended on the server at once.
const UNKNOWN_ID = '0190a5f0-0000-7000-8000-000000000000';
const WATCH = print(TaskStatusChangedDocument);
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function post(body: unknown, accept: string): Promise<{ status: number; text: string }> {
  const res = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text() };
}

function codes(text: string): unknown[] {
  return ((JSON.parse(text) as { errors?: { extensions?: { code?: unknown } }[] }).errors ?? []).map((e) => e.extensions?.code);
}

describe('a subscription that cannot start', () => {
  const cases = [
    { name: 'an unknown id', id: UNKNOWN_ID, code: 'NOT_FOUND', status: 404 },
    { name: 'a malformed id', id: '42', code: 'BAD_USER_INPUT', status: 400 },
  ];
  it.each(cases)('$name: $status under graphql-response+json, 200 under application/json and SSE', async ({ id, code, status }) => {
    const body = { query: WATCH, variables: { id } };
    const strict = await post(body, 'application/graphql-response+json');
    expect([strict.status, codes(strict.text)]).toEqual([status, [code]]);
    const plain = await post(body, 'application/json');
    expect([plain.status, codes(plain.text)]).toEqual([200, [code]]);
    const sse = await post(body, 'text/event-stream');
    expect(sse.status).toBe(200);
    const next = /event: next\ndata: (.*)\n/.exec(sse.text);
    expect(codes(next?.[1] ?? '{}')).toEqual([code]);
    expect(sse.text).toContain('event: complete');
    // The status is yoga's business, not part of the error.
    for (const text of [strict.text, plain.text, sse.text]) expect(text).not.toContain('"http"');
  });

  it('over graphql-ws the error carries only its code and field', async () => {
    const stream = server.subscribeWs(TaskStatusChangedDocument, { id: UNKNOWN_ID });
    // The operation's error comes as a result with errors, then `complete`: not a protocol error.
    expect(await stream.done).toBe('complete');
    expect(stream.errors.map((e) => e.extensions)).toEqual([{ code: 'NOT_FOUND', field: 'id' }]);
  });
});

describe('a query over SSE whose variables do not coerce', () => {
  // graphql-sse's protocol: errors found before execution are `next` events of an accepted stream;
  // a 400 makes the client fail the connection without reading the error.
  it('is a 200 stream whose one event is the error (400 under the JSON types, as before)', async () => {
    const body = { query: 'query ($id: ID!) { taskResult(id: $id) { id } }' };
    const sse = await post(body, 'text/event-stream');
    expect(sse.status).toBe(200);
    const next = /event: next\ndata: (.*)\n/.exec(sse.text);
    expect(codes(next?.[1] ?? '{}')).toEqual(['BAD_USER_INPUT']);
    expect(sse.text).toContain('event: complete');
    const strict = await post(body, 'application/graphql-response+json');
    expect([strict.status, codes(strict.text)]).toEqual([400, ['BAD_USER_INPUT']]);
  });
});

describe('a subscription that starts, sent as plain JSON', () => {
  it('is answered 406 and leaves no subscription open on the server', async () => {
    const { data } = await server.post({ query: 'mutation { enqueueTask(input: { name: "demo.echo" }) { task { id } } }' });
    const id = (data as { enqueueTask: { task: { id: string } } }).enqueueTask.task.id;
    const open = server.app.stats.subscriptions;
    for (let round = 0; round < 20; round += 1) {
      for (const body of [{ query: WATCH, variables: { id } }, { query: 'subscription { taskStatusChanged { id } }' }]) {
        const res = await post(body, 'application/json');
        expect(res.status).toBe(406);
      }
    }
    await waitFor(() => server.app.stats.subscriptions === open, { message: 'the refused subscriptions to end' });
  });
});
