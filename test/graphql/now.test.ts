import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.js';

const env = useTestServer();

/** The database's clock, read on its own connection (not the server's process clock). */
async function databaseMs(): Promise<number> {
  const [row] = await env.server.sql`SELECT clock_timestamp() AS at`;
  return (row?.at as Date).getTime();
}

describe('Query.now', () => {
  it("answers the database's clock, read for the query: between two readings of it taken before and after", async () => {
    const before = await databaseMs();
    const res = await env.server.post({ query: '{ now }' });
    const after = await databaseMs();
    expect(res.errors).toBeUndefined();
    const now = Date.parse(String(res.data?.now));
    // Milliseconds of microsecond readings: each side may be cut by up to 1 ms.
    expect(now).toBeGreaterThanOrEqual(before - 1);
    expect(now).toBeLessThanOrEqual(after + 1);
  });

  it('gives the same clock as the stamps of a task it enqueues', async () => {
    const before = Date.parse(String((await env.server.post({ query: '{ now }' })).data?.now));
    const id = await env.server.enqueue('demo.echo', ['x']);
    const after = Date.parse(String((await env.server.post({ query: '{ now }' })).data?.now));
    const res = await env.server.post({ query: 'query ($id: ID!) { taskResult(id: $id) { enqueuedAt } }', variables: { id } });
    const enqueuedAt = Date.parse(String((res.data?.taskResult as { enqueuedAt: string }).enqueuedAt));
    expect(enqueuedAt).toBeGreaterThanOrEqual(before - 1);
    expect(enqueuedAt).toBeLessThanOrEqual(after + 1);
  });
});
