import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { createMetricsEndpoint } from '../../src/cli/metrics-endpoint.js';
import { CSRF_HEADER } from '../../src/server/csrf.js';
import { createTestApp, startTestServer, useTestServer, type TestServer } from '../helpers/app.js';
import { createAuthTransports } from '../helpers/auth-transports.js';

// DESIGN Part 2 §B, browsers (docs/auth.md#browsers-cors-csrf-origin): no CORS grant to an
// unlisted origin, CSRF prevention on HTTP, the Origin checked on WebSocket upgrades, SSE and every
// GraphQL request (403 before anything runs; no Origin is fine). Here with auth off, where a page
// on another origin would otherwise drive a developer's local server; the rules are the same on.
const EVIL = 'https://evil.example';
const LISTED = 'https://app.example';
const ENQUEUE = 'mutation { enqueueTask(input: { name: "demo.echo", args: ["csrf"] }) { task { id } } }';
const WATCH = 'subscription { taskStatusChanged { id status } }';

const env = useTestServer({ env: { CORS_ORIGINS: `${LISTED}, http://localhost:1` } });
const transports = (): ReturnType<typeof createAuthTransports> => createAuthTransports(env.server.url);
const origin = (server: TestServer): string => new URL(server.url).origin;

/** A raw HTTP request, to send a Host header of the test's choosing (fetch keeps its own). */
function rawPost(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** A raw GET with the Host (and Origin) of the test's choosing. */
function rawGet(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('CORS', () => {
  const preflight = (from: string): Promise<Response> =>
    fetch(env.server.url, {
      method: 'OPTIONS',
      headers: { origin: from, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });

  it('a preflight from an unlisted origin gets no grant (no reflection, no credentials)', async () => {
    const res = await preflight(EVIL);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('access-control-allow-headers')).toBeNull();
  });

  it('a listed origin is granted exactly (never *), with credentials; the answer varies by Origin', async () => {
    const res = await preflight(LISTED);
    expect(res.headers.get('access-control-allow-origin')).toBe(LISTED);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const post = await fetch(env.server.url, {
      method: 'POST',
      headers: { origin: LISTED, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(post.status).toBe(200);
    expect(post.headers.get('access-control-allow-origin')).toBe(LISTED);
    expect(post.headers.get('vary')).toMatch(/\bOrigin\b/);
  });

  it('the server\'s own origin needs no grant and gets none', async () => {
    const res = await preflight(origin(env.server));
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('the Origin header', () => {
  it('a POST from an unlisted origin (or Origin: null) is refused with 403 before it runs: nothing stored', async () => {
    const before = await env.server.countTasks();
    for (const from of [EVIL, 'null', 'http://127.0.0.1:1', 'file://']) {
      const res = await transports().post(ENQUEUE, undefined, { origin: from });
      expect(res.status, from).toBe(403);
      expect(res.errors?.[0]?.extensions?.code, from).toBe('FORBIDDEN');
      expect(res.text, from).not.toMatch(/\bat .*\.ts:\d+/);
    }
    expect(await env.server.countTasks()).toBe(before);
  });

  it('a POST with no Origin (a server, the CLI), from the server\'s own origin or a listed one runs', async () => {
    for (const headers of [{}, { origin: origin(env.server) }, { origin: LISTED }] as Record<string, string>[]) {
      const res = await transports().post(ENQUEUE, undefined, headers);
      expect(res.errors, JSON.stringify(headers)).toBeUndefined();
    }
  });

  it('an SSE request from an unlisted origin is refused with 403; with no Origin it streams', async () => {
    const t = transports();
    const refused = await t.sse(WATCH, undefined, { origin: EVIL });
    expect(refused.status).toBe(403);
    expect(await refused.ended).toBe('closed');
    const get = await fetch(`${env.server.url}?query=${encodeURIComponent(WATCH)}`, { headers: { accept: 'text/event-stream', origin: EVIL } });
    expect(get.status).toBe(403);
    await get.body?.cancel();
    const allowed = await t.sse(WATCH);
    expect(allowed.status).toBe(200);
    allowed.abort();
    await t.closeAll();
  });

  it('a WebSocket upgrade from an unlisted origin is refused with 403 before the upgrade; no Origin, own or listed: 101', async () => {
    const t = transports();
    expect(await t.upgradeStatus({ origin: EVIL })).toBe(403);
    expect(await t.upgradeStatus({ origin: 'null' })).toBe(403);
    expect(await t.upgradeStatus({})).toBe(101);
    expect(await t.upgradeStatus({ origin: origin(env.server) })).toBe(101);
    expect(await t.upgradeStatus({ origin: LISTED })).toBe(101);
  });

  it('with auth off, a Host that is not a loopback name (a DNS-rebinding page) is refused, over HTTP and WebSocket', async () => {
    const before = await env.server.countTasks();
    const port = new URL(env.server.url).port;
    const res = await rawPost(env.server.url, JSON.stringify({ query: ENQUEUE }), { host: `rebind.example:${port}`, 'content-type': 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ errors: [{ extensions: { code: 'FORBIDDEN' } }] });
    expect(await transports().upgradeStatus({ host: `rebind.example:${port}` })).toBe(403);
    expect(await env.server.countTasks()).toBe(before);
    const local = await rawPost(env.server.url, JSON.stringify({ query: '{ __typename }' }), { host: `localhost:${port}`, 'content-type': 'application/json' });
    expect(local.status).toBe(200);
  });

  it('serves GraphQL on /graphql alone: the paths yoga\'s pattern also took are 404, whatever the Host or Origin', async () => {
    const before = await env.server.countTasks();
    const port = new URL(env.server.url).port;
    const body = JSON.stringify({ query: ENQUEUE });
    for (const path of ['/graphql/', '//graphql', '/anything/graphql', '/GRAPHQL']) {
      const url = `${origin(env.server)}${path}`;
      const variants: Record<string, string>[] = [{ host: `rebind.example:${port}` }, { host: `localhost:${port}`, origin: EVIL }, { host: `localhost:${port}` }];
      for (const headers of variants) {
        const res = await rawPost(url, body, { ...headers, 'content-type': 'application/json' });
        expect({ path, headers, status: res.status }).toEqual({ path, headers, status: 404 });
      }
      expect(await rawGet(`${url}?query=${encodeURIComponent('{ __typename }')}`, { host: `rebind.example:${port}` })).toBe(404);
    }
    expect(await env.server.countTasks()).toBe(before);
  });

  it('with auth off, /metrics (queue and task names in its labels) follows the same rule, on a server and on a worker\'s METRICS_PORT on loopback', async () => {
    const metrics = new URL('/metrics', env.server.url).toString();
    const port = new URL(env.server.url).port;
    expect(await rawGet(metrics, { host: `rebind.example:${port}` })).toBe(403);
    expect(await rawGet(metrics, { host: `127.0.0.1:${port}`, origin: EVIL })).toBe(403);
    expect(await rawGet(metrics, { host: `localhost:${port}` })).toBe(200);
    const app = await createTestApp();
    const endpoint = createMetricsEndpoint(app.deps, { port: 0, host: '127.0.0.1', runner: undefined });
    try {
      await endpoint.start();
      const own = new URL(`${endpoint.url}/metrics`);
      expect(await rawGet(own.toString(), { host: `rebind.example:${own.port}` })).toBe(403);
      expect(await rawGet(own.toString(), { host: own.host })).toBe(200);
      // Scrapes of the readiness probes are not concerned: they carry nothing.
      expect(await rawGet(`${endpoint.url}/healthz`, { host: `rebind.example:${own.port}` })).toBe(200);
    } finally {
      await endpoint.stop();
      await app.close();
    }
  });
});

describe('CSRF prevention', () => {
  const form = (body: string | FormData, contentType?: string, extra: Record<string, string> = {}): Promise<Response> =>
    fetch(env.server.url, { method: 'POST', headers: { ...(contentType ? { 'content-type': contentType } : {}), ...extra }, body });

  it('a POST a page could send without a preflight (form, multipart, text/plain, no type) is refused with 403: nothing stored', async () => {
    const before = await env.server.countTasks();
    const multipart = new FormData();
    multipart.set('operations', JSON.stringify({ query: ENQUEUE }));
    multipart.set('map', '{}');
    const cases: [string, Promise<Response>][] = [
      ['urlencoded', form(new URLSearchParams({ query: ENQUEUE }).toString(), 'application/x-www-form-urlencoded')],
      ['multipart', form(multipart)],
      ['text/plain', form(JSON.stringify({ query: ENQUEUE }), 'text/plain')],
      ['text/plain;application/json', form(JSON.stringify({ query: ENQUEUE }), 'text/plain;application/json')],
    ];
    for (const [name, sent] of cases) {
      const res = await sent;
      expect(res.status, name).toBe(403);
      const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
      expect(body.errors[0]?.extensions.code, name).toBe('BAD_REQUEST');
    }
    expect(await env.server.countTasks()).toBe(before);
  });

  it(`the same form POST with ${CSRF_HEADER} (which needs a preflight) runs; JSON needs no header; GET queries stay open`, async () => {
    const res = await form(new URLSearchParams({ query: ENQUEUE }).toString(), 'application/x-www-form-urlencoded', { [CSRF_HEADER]: '1' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { errors?: unknown }).errors).toBeUndefined();
    expect((await transports().post('{ __typename }')).status).toBe(200);
    const get = await fetch(`${env.server.url}?query=${encodeURIComponent('{ __typename }')}`);
    expect(get.status).toBe(200);
  });
});

describe('/metrics with METRICS_TOKEN', () => {
  const TOKEN = 'metrics-token-0123456789';
  const servers: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('needs Authorization: Bearer <METRICS_TOKEN> (401 otherwise); /healthz and /readyz stay open', async () => {
    const server = await startTestServer({ env: { METRICS_TOKEN: TOKEN } });
    servers.push(server);
    const base = origin(server);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: TOKEN } })).status).toBe(401);
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('taskwire_');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('with AUTH_MODE=on and no METRICS_TOKEN, /metrics is closed (403) and says to set it', async () => {
    const server = await startTestServer({ env: { AUTH_MODE: 'on' } });
    servers.push(server);
    const res = await fetch(`${origin(server)}/metrics`, { headers: { authorization: 'Bearer anything-at-all' } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('METRICS_TOKEN');
    expect((await fetch(`${origin(server)}/healthz`)).status).toBe(200);
  });

  it("a worker's metrics endpoint (METRICS_PORT) takes the same token", async () => {
    const app = await createTestApp({ env: { METRICS_TOKEN: TOKEN } });
    const endpoint = createMetricsEndpoint(app.deps, { port: 0, host: '127.0.0.1', runner: undefined });
    servers.push({ close: async () => (await endpoint.stop(), await app.close()) });
    await endpoint.start();
    expect((await fetch(`${endpoint.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${endpoint.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${endpoint.url}/healthz`)).status).toBe(200);
  });
});
