import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { errorCodes } from '../helpers/graphql.js';
import { captureLog } from '../helpers/log-capture.js';
import { startGuardedServer, type GuardedServer } from '../helpers/guarded-server.js';

// Flow control over GraphQL (DESIGN Part 2 §E): queues, pauseQueue / resumeQueue / setQueueLimits
// behind queues:admin, EnqueueTaskInput.concurrencyKey, Task.concurrencyKey and Task.waitReason.
let app: TestApp;
let server: GuardedServer;
const captured = captureLog('info');
beforeAll(async () => {
  app = await createTestApp({ log: captured.log });
  server = await startGuardedServer(app);
});
afterAll(async () => {
  await server?.close();
  await app?.close();
});
beforeEach(async () => {
  await app.sql`DELETE FROM tasks`;
  await app.sql`DELETE FROM queues`;
});

const principal = (scopes: string[]): Principal => ({ kind: 'api-key', id: `key:${scopes.join('+')}`, tenant: 'default', scopes });
const operator = () => server.as(principal(['queues:admin', 'tasks:read']));
const reader = () => server.as(principal(['tasks:read', 'tasks:enqueue']));
const QUEUE = 'name paused pausedAt concurrency rateLimit { max perMs } perKeyConcurrency stats { queue total pending }';

describe('pauseQueue / resumeQueue / setQueueLimits', () => {
  it('pauses and limits a queue with no task yet, clears a limit with null, keeps one left out, resumes', async () => {
    const paused = await operator().post(`mutation { pauseQueue(name: "gq") { ${QUEUE} } }`);
    expect(paused.errors).toBeUndefined();
    expect(paused.data?.pauseQueue).toMatchObject({ name: 'gq', paused: true, concurrency: null, rateLimit: null, stats: { queue: 'gq', total: 0 } });
    const limited = await operator().post(
      `mutation($l: QueueLimitsInput!) { setQueueLimits(name: "gq", limits: $l) { ${QUEUE} } }`,
      { l: { concurrency: 4, rateLimit: { max: 10, perMs: 1000 }, perKeyConcurrency: 1 } },
    );
    expect(limited.data?.setQueueLimits).toMatchObject({ paused: true, concurrency: 4, rateLimit: { max: 10, perMs: 1000 }, perKeyConcurrency: 1 });
    const cleared = await operator().post(`mutation { setQueueLimits(name: "gq", limits: { rateLimit: null }) { ${QUEUE} } }`);
    expect(cleared.data?.setQueueLimits).toMatchObject({ concurrency: 4, rateLimit: null, perKeyConcurrency: 1 });
    const resumed = await operator().post(`mutation { resumeQueue(name: "gq") { ${QUEUE} } }`);
    expect(resumed.data?.resumeQueue).toMatchObject({ paused: false, pausedAt: null });
    // Each change is logged with who made it: a queue found stopped says by whom and when.
    const changes = captured.lines.filter((l) => l.queue === 'gq').map((l) => [l.msg, l.principal]);
    expect(changes).toEqual([
      ['queue paused', 'key:queues:admin+tasks:read'],
      ['queue limits set', 'key:queues:admin+tasks:read'],
      ['queue limits set', 'key:queues:admin+tasks:read'],
      ['queue resumed', 'key:queues:admin+tasks:read'],
    ]);
  });

  it('refuses out-of-range limits with BAD_USER_INPUT naming the field', async () => {
    const res = await operator().post('mutation { setQueueLimits(name: "gq", limits: { concurrency: 0 }) { name } }');
    expect(errorCodes(res.errors)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors?.[0]?.extensions?.field).toBe('limits.concurrency');
  });

  it('is FORBIDDEN without queues:admin, and changes nothing', async () => {
    for (const op of ['pauseQueue(name: "gq") { name }', 'resumeQueue(name: "gq") { name }', 'setQueueLimits(name: "gq", limits: { concurrency: 1 }) { name }']) {
      const res = await reader().post(`mutation { ${op} }`);
      expect(errorCodes(res.errors)).toEqual(['FORBIDDEN']);
    }
    const [row] = await app.sql`SELECT count(*)::int AS n FROM queues`;
    expect(row?.n).toBe(0);
  });
});

describe('Query.queues and Task.waitReason', () => {
  it('lists queues with settings and counts, and says why each waiting task waits', async () => {
    const enq = async (input: Record<string, unknown>): Promise<string> => {
      const res = await reader().post('mutation($i: EnqueueTaskInput!) { enqueueTask(input: $i) { task { id concurrencyKey } } }', { i: input });
      expect(res.errors).toBeUndefined();
      return (res.data?.enqueueTask as { task: { id: string } }).task.id;
    };
    await operator().post('mutation { pauseQueue(name: "stopped") { name } }');
    const stopped = await enq({ name: 'demo.echo', queue: 'stopped', concurrencyKey: 'customer-1' });
    const later = await enq({ name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000).toISOString() });
    const free = await enq({ name: 'demo.echo', queue: 'free' });
    const res = await reader().post(
      `query { queues { ${QUEUE} } tasks(first: 10) { edges { node { id concurrencyKey waitReason } } } }`,
    );
    expect(res.errors).toBeUndefined();
    const queues = res.data?.queues as { name: string; paused: boolean; stats: { pending: number } }[];
    expect(queues.find((q) => q.name === 'stopped')).toMatchObject({ paused: true, stats: { pending: 1 } });
    expect(queues.find((q) => q.name === 'free')).toMatchObject({ paused: false, stats: { pending: 1 } });
    const nodes = (res.data?.tasks as { edges: { node: { id: string; concurrencyKey: string | null; waitReason: string | null } }[] }).edges.map((e) => e.node);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    expect(byId.get(stopped)).toMatchObject({ concurrencyKey: 'customer-1', waitReason: 'QUEUE_PAUSED' });
    expect(byId.get(later)).toMatchObject({ concurrencyKey: null, waitReason: 'SCHEDULED' });
    expect(byId.get(free)).toMatchObject({ waitReason: null });
  });

  it('refuses queues to a credential without tasks:read', async () => {
    const res = await server.as(principal(['tasks:enqueue'])).post('{ queues { name } }');
    expect(errorCodes(res.errors)).toEqual(['FORBIDDEN']);
  });
});
