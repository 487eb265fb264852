import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { startTestServer, type TestServer } from '../../helpers/graphql.js';

// The seams authentication plugs into, driven by graphql-ws's own client.
const seen: { connect: unknown[]; subscribe: string[] } = { connect: [], subscribe: [] };
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    app: {
      wsHooks: {
        onConnect: async ({ connectionParams }) => {
          seen.connect.push(connectionParams);
          return connectionParams?.token === 'let-me-in';
        },
        onSubscribe: ({ payload }) => {
          seen.subscribe.push(payload.query);
          if (payload.query.includes('queueStats')) throw new AppError('FORBIDDEN', 'not for you');
        },
      },
    },
  });
});
afterAll(async () => {
  await server.close();
});

function client(token: string) {
  const closes: number[] = [];
  const c = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { token },
    on: { closed: (event) => void closes.push((event as { code: number }).code) },
  });
  return { c, closes };
}

function run(c: ReturnType<typeof createClient>, query: string): Promise<{ data?: unknown; errors?: readonly { extensions?: Record<string, unknown> }[] } | { closed: unknown }> {
  return new Promise((resolve) => {
    let last: { data?: unknown; errors?: readonly { extensions?: Record<string, unknown> }[] } | undefined;
    c.subscribe(
      { query },
      {
        next: (r) => void (last = r as typeof last),
        error: (e) => resolve(Array.isArray(e) ? { errors: e } : { closed: e }),
        complete: () => resolve(last ?? {}),
      },
    );
  });
}

describe('graphql-ws hooks', () => {
  it('onConnect sees connectionParams; false refuses the socket with 4403 Forbidden', async () => {
    const { c, closes } = client('wrong');
    const outcome = await run(c, '{ __typename }');
    expect(outcome).toHaveProperty('closed');
    expect(closes).toContain(4403);
    expect(seen.connect).toContainEqual({ token: 'wrong' });
    await c.dispose();
  });

  it('onSubscribe refuses one operation with its code and keeps the socket for the next', async () => {
    const { c, closes } = client('let-me-in');
    const refused = await run(c, '{ queueStats { queue } }');
    expect(refused).toMatchObject({ errors: [{ extensions: { code: 'FORBIDDEN' } }] });
    const allowed = await run(c, '{ __typename }');
    expect(allowed).toMatchObject({ data: { __typename: 'Query' } });
    expect(closes).toEqual([]);
    expect(seen.subscribe.filter((q) => q.includes('__typename')).length).toBeGreaterThan(0);
    await c.dispose();
  });
});
