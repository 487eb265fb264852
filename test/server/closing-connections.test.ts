import { request, Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

// A graceful stop answers what it still serves with `Connection: close`, so that a client does not
// send its next request down a keep-alive connection the stop is about to close (it could not tell
// whether that request was served: a POST would be "maybe stored"), but opens a new connection,
// which the stopped listener refuses plainly.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

/** POSTs `body` on `agent`'s keep-alive connection: the status and the Connection header of the answer. */
function post(url: string, agent: Agent, body: string): Promise<{ status: number; connection: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('a graceful stop and keep-alive connections', () => {
  it('answers a request under way when the stop begins with Connection: close', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const enqueue = JSON.stringify({ query: 'mutation { enqueueTask(input: { name: "demo.echo", args: [1] }) { task { id } } }' });
    try {
      expect((await post(server.url, agent, enqueue)).connection).toBe('keep-alive');
      // The next one is held in its statement (a lock on the table) while the stop begins.
      const lock = await server.sql.reserve();
      await lock`BEGIN`;
      await lock`LOCK TABLE tasks IN SHARE MODE`;
      const held = post(server.url, agent, enqueue);
      await waitFor(async () => (await server.sql`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'`).length > 0, { message: 'a request under way' });
      const stopped = server.app.stop();
      await lock`COMMIT`;
      lock.release();
      const answer = await held;
      expect([answer.status, answer.connection]).toEqual([200, 'close']);
      expect(JSON.parse(answer.text)).toMatchObject({ data: { enqueueTask: { task: { id: expect.any(String) } } } });
      await stopped;
      // The next request opens a new connection, and the stopped server refuses it.
      await expect(post(server.url, agent, enqueue)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      agent.destroy();
    }
  });
});
