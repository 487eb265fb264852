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
