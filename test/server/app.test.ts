import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { EnqueueTaskDocument, TaskVersionDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { createSubscriptionClients } from '../helpers/subscriptions.js';
import { waitFor } from '../helpers/wait.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ runner: false });
});
afterAll(async () => {
  await server?.close();
});

async function pendingTask(): Promise<string> {
  const res = await server.execute(EnqueueTaskDocument, { input: { name: 'demo.echo', args: [] } });
  return res.data!.enqueueTask.task.id;
}

const count = (kind: string): number => process.getActiveResourcesInfo().filter((r) => r === kind).length;

describe('buildApp transports', () => {
  it('serves GraphiQL to a browser on /graphql', async () => {
    const res = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('taskwire');
  });

  it('answers GET /graphql, and the introspection query fits the default limits', async () => {
    const get = await fetch(`${server.url}?query=${encodeURIComponent('{ queueStats { queue } }')}`);
    expect(await get.json()).toEqual({ data: { queueStats: expect.any(Array) } });
    const introspection = await server.post({ query: getIntrospectionQuery() });
    expect(introspection.errors).toBeUndefined();
    expect(introspection.data).toHaveProperty('__schema');
  });

  it('streams a subscription over SSE with GET and Accept: text/event-stream', async () => {
    const id = await pendingTask();
    const query = encodeURIComponent('subscription($id: ID!) { taskStatusChanged(id: $id) { id status version } }');
    const abort = new AbortController();
    const res = await fetch(`${server.url}?query=${query}&variables=${encodeURIComponent(JSON.stringify({ id }))}`, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n') || !text.includes('event: next')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain(`"status":"PENDING"`);
    abort.abort();
    await waitFor(() => server.app.stats.subscriptions === 0, { message: 'the SSE subscription to close' });
  });
});

describe('stop()', () => {
  it('closes every socket without completing open subscriptions (graphql-ws: 1012), and stops listening', async () => {
    const servers = count('TCPServerWrap');
    const app = buildApp(server.deps, { drainMs: 5000 });
    const { url } = await app.start(0, '127.0.0.1');
    expect(count('TCPServerWrap')).toBe(servers + 1);
    const id = await pendingTask();
    const clients = createSubscriptionClients(url);
    const ws = clients.subscribeWs(TaskVersionDocument, { id });
    const sse = clients.subscribeSse(TaskVersionDocument, { id });
    await Promise.all([ws, sse].map((s) => s.waitFor(() => true)));
    expect(app.stats.subscriptions).toBe(2);

    await app.stop();
    // The task has not finished: the subscriptions have not ended, and say nothing of it.
    await expect(ws.done).rejects.toMatchObject({ code: 1012 });
    expect(await sse.done).toBe('closed');
    expect(app.stats.subscriptions).toBe(0);
    expect(count('TCPServerWrap')).toBe(servers);
    await expect(fetch(url, { method: 'POST', body: '{}' })).rejects.toThrow();
    await clients.closeAll();
    // The other server on the same deps is unaffected.
    expect((await server.post({ query: '{ __typename }' })).data).toEqual({ __typename: 'Query' });
  });
});
