import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { CSRF_HEADER } from '../../src/server/csrf.js';
import { useTestServer } from '../helpers/app.js';

// Refusals a browser (or any client) must be able to read and act on: a Content-Type no parser
// reads (415) and an Accept nothing can be answered in (406) carry a GraphQL error body as JSON
// (src/server/media-types.ts) and, for a listed origin, the CORS grant; every refusal's status
// line carries its reason phrase.
const LISTED = 'https://app.example';
const EVIL = 'https://evil.example';
const env = useTestServer({ env: { CORS_ORIGINS: LISTED } });
const QUERY = JSON.stringify({ query: '{ __typename }' });

interface Answer {
  status: number;
  contentType: string | null;
  allowOrigin: string | null;
  errors: { message: string; extensions: Record<string, unknown> }[] | undefined;
}

async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  const contentType = res.headers.get('content-type');
  const errors = contentType?.startsWith('application/json') ? (JSON.parse(text) as { errors?: Answer['errors'] }).errors : undefined;
  return { status: res.status, contentType, allowOrigin: res.headers.get('access-control-allow-origin'), errors };
}

const post = async (headers: Record<string, string>, body = QUERY): Promise<Answer> => answerOf(await fetch(env.server.url, { method: 'POST', headers, body }));

/** Status code and reason phrase of a raw request (fetch does not expose the reason). */
function statusLine(path: string, method: string, headers: Record<string, string>, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, env.server.url), { method, headers }, (res) => {
      res.resume();
      res.once('end', () => resolve(`${res.statusCode} ${res.statusMessage}`));
    });
    req.once('error', reject);
    req.end(body);
  });
}

describe('a POST whose Content-Type no parser reads', () => {
  const unread: [string, Record<string, string>][] = [
    ['text/plain with the CSRF header', { 'content-type': 'text/plain', [CSRF_HEADER]: '1' }],
    ['text/plain;charset=utf-8 with the CSRF header', { 'content-type': 'text/plain;charset=utf-8', [CSRF_HEADER]: '1' }],
    ['application/xml', { 'content-type': 'application/xml' }],
    ['no Content-Type, with the CSRF header', { [CSRF_HEADER]: '1' }],
  ];
  it.each(unread)('is 415 BAD_REQUEST as JSON, naming Content-Type: %s', async (_name, headers) => {
    const res = await post(headers);
    expect(res).toMatchObject({ status: 415, contentType: 'application/json; charset=utf-8', allowOrigin: null });
    expect(res.errors?.map((e) => e.extensions)).toEqual([{ code: 'BAD_REQUEST' }]);
    expect(res.errors?.[0]?.message).toContain('Content-Type');
  });

  it('carries the CORS grant for a listed origin, as every other answer does', async () => {
    const res = await post({ origin: LISTED, 'content-type': 'text/plain', [CSRF_HEADER]: '1' });
    expect(res).toMatchObject({ status: 415, allowOrigin: LISTED });
    expect(res.errors?.[0]?.extensions.code).toBe('BAD_REQUEST');
  });

  it('is still refused as a possible CSRF first (403) without the header: text/plain is refused either way', async () => {
    const res = await post({ 'content-type': 'text/plain' });
    expect(res.status).toBe(403);
    expect(res.errors?.[0]?.extensions.code).toBe('BAD_REQUEST');
  });
});

describe('an Accept the server cannot answer in', () => {
  it('is 406 BAD_REQUEST as JSON, naming Accept, on a query', async () => {
    for (const accept of ['application/xml', 'application/json; charset=iso-8859-1']) {
      const res = await post({ 'content-type': 'application/json', accept });
      expect(res, accept).toMatchObject({ status: 406, contentType: 'application/json; charset=utf-8' });
      expect(res.errors?.map((e) => e.extensions), accept).toEqual([{ code: 'BAD_REQUEST' }]);
      expect(res.errors?.[0]?.message, accept).toContain('Accept');
    }
  });

  it('is 406 BAD_REQUEST as JSON on a subscription asked for as JSON, with the grant for a listed origin', async () => {
    const body = JSON.stringify({ query: 'subscription { taskStatusChanged { id } }' });
    const res = await post({ origin: LISTED, 'content-type': 'application/json', accept: 'application/graphql-response+json' }, body);
    expect(res).toMatchObject({ status: 406, contentType: 'application/json; charset=utf-8', allowOrigin: LISTED });
    expect(res.errors?.map((e) => e.extensions)).toEqual([{ code: 'BAD_REQUEST' }]);
  });

  it('ends the subscription it refuses (nothing stays open on the server)', async () => {
    const body = JSON.stringify({ query: 'subscription { taskStatusChanged { id } }' });
    for (let i = 0; i < 3; i += 1) expect((await post({ 'content-type': 'application/json', accept: 'application/json' }, body)).status).toBe(406);
    expect(env.server.app.stats.subscriptions).toBe(0);
  });
});

describe('the reason phrase', () => {
  it('is the standard one on every refusal: 403 (Origin, /metrics), 405, 406, 413, 415', async () => {
    expect(await statusLine('/graphql', 'POST', { origin: EVIL, 'content-type': 'application/json' }, QUERY)).toBe('403 Forbidden');
    expect(await statusLine('/metrics', 'GET', { origin: EVIL })).toBe('403 Forbidden');
    expect(await statusLine('/graphql', 'POST', { 'content-type': 'text/plain' }, QUERY)).toBe('403 Forbidden');
    expect(await statusLine('/metrics', 'POST', { 'content-type': 'application/json' }, QUERY)).toBe('405 Method Not Allowed');
    expect(await statusLine('/graphql', 'POST', { 'content-type': 'application/json', accept: 'application/xml' }, QUERY)).toBe('406 Not Acceptable');
    expect(await statusLine('/graphql', 'POST', { 'content-type': 'application/xml' }, QUERY)).toBe('415 Unsupported Media Type');
    const big = JSON.stringify({ query: `{ __typename }${' '.repeat(1_048_576)}` });
    expect(await statusLine('/graphql', 'POST', { 'content-type': 'application/json' }, big)).toBe('413 Payload Too Large');
    expect(await statusLine('/healthz', 'GET', {})).toBe('200 OK');
    expect(await statusLine('/healthz', 'HEAD', {})).toBe('200 OK');
  });
});

describe('a JSON body that is not UTF-8', () => {
  const ENQUEUE = 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id args } } }';
  // `café` in Latin-1: é is the single byte 0xE9, which does not decode as UTF-8.
  const latin1 = Buffer.concat([
    Buffer.from(`{"query": ${JSON.stringify(ENQUEUE)}, "variables": {"input": {"name": "demo.echo", "args": ["caf`),
    Buffer.from([0xe9]),
    Buffer.from('"]}}}'),
  ]);
  const send = async (contentType: string, body: Buffer): Promise<Answer> =>
    answerOf(await fetch(env.server.url, { method: 'POST', headers: { 'content-type': contentType, accept: 'application/json' }, body: new Uint8Array(body) }));

  it('is 400 BAD_REQUEST saying so, and stores nothing (it was stored with U+FFFD for the é, 200)', async () => {
    const before = await env.server.countTasks();
    const answer = await send('application/json', latin1);
    expect(answer).toMatchObject({ status: 400, errors: [{ message: expect.stringContaining('not UTF-8'), extensions: { code: 'BAD_REQUEST' } }] });
    expect(await env.server.countTasks()).toBe(before);
  });

  it('is 415 BAD_REQUEST naming a declared charset other than UTF-8, whatever the bytes', async () => {
    const before = await env.server.countTasks();
    for (const body of [latin1, Buffer.from(JSON.stringify({ query: ENQUEUE, variables: { input: { name: 'demo.echo', args: ['cafe'] } } }))]) {
      const answer = await send('application/json; charset=iso-8859-1', body);
      expect(answer).toMatchObject({ status: 415, errors: [{ message: expect.stringContaining('charset iso-8859-1: send the body in UTF-8'), extensions: { code: 'BAD_REQUEST' } }] });
    }
    expect(await env.server.countTasks()).toBe(before);
  });

  it('is read as before in UTF-8, with or without the charset said', async () => {
    const utf8 = Buffer.from(JSON.stringify({ query: ENQUEUE, variables: { input: { name: 'demo.echo', args: ['café'] } } }));
    for (const contentType of ['application/json', 'application/json; charset=utf-8', 'application/json; charset="UTF-8"']) {
      const answer = await answerOf(await fetch(env.server.url, { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(utf8) }));
      expect(answer.status, contentType).toBe(200);
    }
  });
});
