import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.js';

// The 413 of a body over the limit is written by the body limit (src/server/http.ts) before yoga
// runs, so yoga's CORS plugin never sees it: without the grant written there too, a page of a
// listed origin sees only "TypeError: Failed to fetch". It must grant exactly what yoga grants the
// same origin on any other answer, and nothing to an origin that is not listed.
const LISTED = 'https://app.example';
const EVIL = 'https://evil.example';
const LIMIT = 4096;
const env = useTestServer({ env: { CORS_ORIGINS: LISTED }, app: { maxBodyBytes: LIMIT } });

const CORS_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers', 'vary'];
const corsOf = (headers: Headers): Record<string, string | null> => Object.fromEntries(CORS_HEADERS.map((name) => [name, headers.get(name)]));

const big = JSON.stringify({ query: `{ __typename }${' '.repeat(2 * LIMIT)}` });

/** A POST of `body` with `origin`; chunked: as a stream, so the limit is found while reading. */
async function post(body: string, origin: string, chunked = false): Promise<Response> {
  const bytes = new TextEncoder().encode(body);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  return fetch(env.server.url, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: chunked ? stream : bytes,
    duplex: 'half',
  } as RequestInit);
}

describe('a body over the limit, from a browser page', () => {
  it('carries the CORS grant yoga gives a listed origin, declared or chunked', async () => {
    const granted = corsOf((await post(JSON.stringify({ query: '{ __typename }' }), LISTED)).headers);
    expect(granted['access-control-allow-origin']).toBe(LISTED);
    // Retry-After and WWW-Authenticate readable by the page (yoga's grant and the 413's alike).
    expect(granted['access-control-expose-headers']).toBe('Retry-After, WWW-Authenticate');
    for (const chunked of [false, true]) {
      const res = await post(big, LISTED, chunked);
      expect(res.status).toBe(413);
      expect(corsOf(res.headers)).toEqual(granted);
      expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe('PAYLOAD_TOO_LARGE');
    }
  });

  it('grants nothing to an origin that is not listed, and still varies by Origin', async () => {
    const res = await post(big, EVIL);
    expect(res.status).toBe(413);
    expect(corsOf(res.headers)).toEqual({ 'access-control-allow-origin': null, 'access-control-allow-credentials': null, 'access-control-expose-headers': null, vary: 'Origin' });
    await res.text();
  });
});

describe('the 413 body', () => {
  it('names the limit as the other limit errors do: extensions {code, limit, max} and nothing else', async () => {
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(env.server.url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) } }, (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (chunk: string) => (text += chunk));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
      });
      req.once('error', reject);
      req.end(big);
    });
    expect(res.status).toBe(413);
    const body = JSON.parse(res.text) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors.map((e) => e.extensions)).toEqual([{ code: 'PAYLOAD_TOO_LARGE', limit: 'maxBodyBytes', max: LIMIT }]);
  });
});
