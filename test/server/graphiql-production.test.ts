import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** What a browser sends when someone opens the URL. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

async function openInBrowser(env: Record<string, string>): Promise<{ status: number; type: string; body: string }> {
  const server = await startTestServer({ env, runner: false });
  servers.push(server);
  const res = await fetch(server.url, { headers: { accept: BROWSER_ACCEPT } });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

describe('GraphiQL on /graphql', () => {
  it('is not served when NODE_ENV=production, while GraphQL over HTTP still answers', async () => {
    const page = await openInBrowser({ NODE_ENV: 'production' });
    expect(page.type).not.toContain('text/html');
    expect(page.body.toLowerCase()).not.toContain('graphiql');
    const server = servers[0]!;
    expect(await server.post({ query: '{ __typename }' })).toMatchObject({ status: 200, data: { __typename: 'Query' } });
  });

  it('is served in production when GRAPHIQL=true asks for it', async () => {
    const page = await openInBrowser({ NODE_ENV: 'production', GRAPHIQL: 'true' });
    expect(page).toMatchObject({ status: 200, type: expect.stringContaining('text/html') });
    expect(page.body.toLowerCase()).toContain('graphiql');
  });
});

describe("GraphiQL's page and its files", () => {
  it('serves a small page whose script and stylesheet are versioned, cached for good and gzipped', async () => {
    const server = await startTestServer({ runner: false });
    servers.push(server);
    const origin = new URL(server.url).origin;
    const page = await fetch(server.url, { headers: { accept: BROWSER_ACCEPT } });
    // Another site may not frame it (a click on Run in a transparent frame runs what ?query= holds).
    expect(page.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const html = await page.text();
    expect(html.length).toBeLessThan(200_000); // 9 MB inlined before (what is left is mostly the favicon's data URL)
    const script = /<script src="(\/graphiql\/graphiql\.js\?v=[\w-]+)"><\/script>/.exec(html)?.[1];
    const style = /<link rel="stylesheet" href="(\/graphiql\/graphiql\.css\?v=[\w-]+)" \/>/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    // The sign-in script still comes first, and a second visit gets the same page.
    expect(html.indexOf('/dashboard/graphiql-auth.js')).toBeLessThan(html.indexOf(script!));
    expect(await (await fetch(server.url, { headers: { accept: BROWSER_ACCEPT } })).text()).toBe(html);

    // fetch asks for gzip and inflates: the body is GraphiQL itself, with this server's options.
    const js = await fetch(`${origin}${script}`);
    expect(js.headers.get('content-encoding')).toBe('gzip');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const body = await js.text();
    expect(body).toContain('renderYogaGraphiQL');
    expect(body).toContain('"title":"taskwire"');
    const css = await fetch(`${origin}${style}`, { headers: { 'accept-encoding': 'identity' } });
    expect(css.headers.get('content-encoding')).toBeNull();
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await css.text()).length).toBeGreaterThan(10_000);

    // A page of another version (an open tab across a server upgrade) gets today's file, not to be cached under its URL.
    const stale = await fetch(`${origin}/graphiql/graphiql.js?v=old`);
    expect(stale.status).toBe(200);
    expect(stale.headers.get('cache-control')).toBe('no-cache');
    await stale.arrayBuffer();

    // Another server process of the same release (behind a load balancer) serves the files of this page, first thing.
    const another = await startTestServer({ runner: false });
    servers.push(another);
    const there = await fetch(`${new URL(another.url).origin}${script}`);
    expect(there.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await there.text()).toBe(body);
  });

  it('serves no files when GraphiQL is off', async () => {
    const server = await startTestServer({ env: { NODE_ENV: 'production' }, runner: false });
    servers.push(server);
    expect((await fetch(`${new URL(server.url).origin}/graphiql/graphiql.js`)).status).toBe(404);
  });
});
