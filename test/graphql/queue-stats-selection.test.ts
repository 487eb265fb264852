import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/principal.js';
import type { GraphQLContext } from '../../src/graphql/context.js';
import { schema } from '../../src/graphql/schema.js';
import type { Queue, QueueInfo, StatsRead } from '../../src/queue/index.js';
import { defaultSettings } from '../../src/queue/queue-control/sql/queue-settings.js';
import { emptyLiveStats, type LiveQueueStats, type QueueStats } from '../../src/queue/stats.js';
import { TASK_STATUSES } from '../../src/queue/states.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { silentLogger } from '../../src/logger.js';

// Which stats a Queue's operation reads, from its selection of `stats`: the live statuses alone when
// it asks nothing else (the dashboard's queue panel, every 5 s), every status otherwise, one read
// either way. Then the same answers as the full read, on real PostgreSQL, for an admin and a tenant.
const panel = (await import('../../src/dashboard/queues.js' as string)) as { QUEUES: string; PAUSE: string; RESUME: string };

type Answer = { data?: Record<string, unknown>; errors?: unknown[] };
let queueOfContext: Queue;
// The real schema (its guard, resolvers, selection), the queue API as the context gives it: an admin
// sees every tenant (the unscoped queue), a tenant its own (Queue.scoped), as src/server/context.ts.
const yoga = createYoga<object, GraphQLContext>({
  schema,
  logging: false,
  maskedErrors: false,
  context: () => ({ principal: ANONYMOUS, queue: queueOfContext, log: silentLogger }) as unknown as GraphQLContext,
});
async function post(queue: Queue, query: string, variables: Record<string, unknown> = {}): Promise<Answer> {
  queueOfContext = queue;
  const res = await yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as Answer;
}

/** Runs `query` on the real schema with a queueControl that records which read each call asked for. */
async function readsOf(query: string, variables: Record<string, unknown> = {}): Promise<{ reads: (StatsRead | undefined)[]; errors: unknown }> {
  const reads: (StatsRead | undefined)[] = [];
  const info = (read: StatsRead | undefined): QueueInfo<QueueStats | LiveQueueStats> => ({
    ...defaultSettings('q'),
    stats: read === 'live'
      ? { ...emptyLiveStats('q'), counts: { BLOCKED: 1, PENDING: 2, RUNNING: 3, RETRYING: 4 } }
      : { queue: 'q', counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, 1])) as QueueStats['counts'], oldestPendingAgeMs: null },
  });
  const record = async (read: StatsRead | undefined) => {
    reads.push(read);
    return info(read);
  };
  const queueControl = {
    list: async (read?: StatsRead) => [await record(read)],
    get: async (_name: string, read?: StatsRead) => record(read),
    pause: async (_name: string, read?: StatsRead) => record(read),
    resume: async (_name: string, read?: StatsRead) => record(read),
    setLimits: async (_name: string, _limits: unknown, read?: StatsRead) => record(read),
  };
  const result = await post({ queueControl } as unknown as Queue, query, variables);
  return { reads, errors: result.errors };
}

describe('the stats a Queue operation reads', () => {
  it.each([
    ['the dashboard panel\'s poll', panel.QUEUES, {}],
    ['the dashboard panel\'s pause', panel.PAUSE, { name: 'q' }],
    ['the dashboard panel\'s resume', panel.RESUME, { name: 'q' }],
    ['no stats', '{ queues { name paused } }', {}],
    ['every live field, aliased', '{ queues { s: stats { __typename queue blocked p: pending running retrying oldestPendingAgeMs } } }', {}],
    ['live fields through fragments and inline fragments', `
      query { queues { ...Q } }
      fragment Q on Queue { name stats { ...Live ... on QueueStats { running } } ... on Queue { stats { pending } } }
      fragment Live on QueueStats { blocked ... { retrying } }`, {}],
    ['setQueueLimits with live fields', 'mutation { setQueueLimits(name: "q", limits: { concurrency: 2 }) { stats { pending running } } }', {}],
  ])('reads the live tasks alone for %s', async (_what, query, variables) => {
    const { reads, errors } = await readsOf(query, variables);
    expect(errors).toBeUndefined();
    expect(reads).toEqual(['live']);
  });

  it.each([
    ['total', '{ queues { stats { pending total } } }'],
    ['a finished status', '{ queues { stats { running succeeded } } }'],
    ['counts', '{ queues { stats { counts { status count } } } }'],
    ['a finished status in a fragment', 'query { queues { stats { pending ...F } } } fragment F on QueueStats { cancelled }'],
    ['a finished status in an inline fragment of the Queue', 'query { queues { name ... on Queue { stats { failed } } stats { pending } } }'],
    ['a field under @skip (treated as selected)', 'query($s: Boolean!) { queues { stats { pending total @skip(if: $s) } } }'],
    ['pauseQueue asking total', 'mutation { pauseQueue(name: "q") { stats { total } } }'],
  ])('reads every status when asked %s, and answers from that one read', async (what, query) => {
    const { reads, errors } = await readsOf(query, { s: true });
    expect(errors).toBeUndefined();
    expect(reads).toEqual(['all']);
    void what;
  });
});

let app: TestApp;
let admin: Queue;
let acme: Queue;
beforeAll(async () => {
  app = await createTestApp();
  admin = app.deps.queue;
  acme = app.deps.queue.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: null });
  const insert = (n: number, queue: string, status: string, tenant = 'default') => app.sql`
    INSERT INTO tasks (id, name, queue, status, tenant, run_after, finished_at)
    SELECT gen_random_uuid(), 'demo.echo', ${queue}, ${status}::task_status, ${tenant}, now() - interval '1 minute',
           CASE WHEN ${status} IN ('SUCCEEDED', 'FAILED', 'CANCELLED') THEN now() END
    FROM generate_series(1, ${n}) g`;
  await app.sql`DELETE FROM tasks`;
  await app.sql`DELETE FROM queues`;
  await insert(300, 'mail', 'SUCCEEDED');
  await insert(4, 'mail', 'PENDING');
  await insert(2, 'mail', 'RETRYING');
  await insert(1, 'mail', 'RUNNING');
  await insert(1, 'mail', 'BLOCKED');
  await insert(50, 'archive', 'SUCCEEDED'); // every task finished: still listed
  await insert(5, 'archive', 'FAILED');
  await insert(20, 'acme-jobs', 'SUCCEEDED', 'acme');
  await insert(3, 'acme-jobs', 'PENDING', 'acme');
  await insert(2, 'acme-old', 'CANCELLED', 'acme');
  await insert(1, 'mail', 'SUCCEEDED', 'acme');
  await app.deps.queue.queueControl.pause('held'); // settings, no task
  await app.sql`ANALYZE tasks`;
});
afterAll(async () => {
  await app?.close();
});
type Row = { name: string; paused: boolean; stats: Record<string, number | null> };

describe.each([
  ['an admin', () => admin, ['acme-jobs', 'acme-old', 'archive', 'held', 'mail']],
  ['a tenant', () => acme, ['acme-jobs', 'acme-old', 'mail']],
] as const)('queues for %s', (_who, queueOf, names) => {
  it("answers the dashboard's exact query as the full read does, listing the same queues (finished ones included)", async () => {
    const live = await post(queueOf(), panel.QUEUES);
    expect(live.errors).toBeUndefined();
    const full = await post(queueOf(), '{ queues { name paused stats { pending retrying running blocked succeeded total } } }');
    expect(full.errors).toBeUndefined();
    const liveRows = live.data?.queues as Row[];
    const fullRows = full.data?.queues as Row[];
    expect(liveRows.map((q) => q.name)).toEqual(names);
    expect(fullRows.map((q) => q.name)).toEqual(names);
    expect(liveRows.map((q) => [q.name, q.paused, q.stats])).toEqual(
      fullRows.map((q) => [q.name, q.paused, { pending: q.stats.pending, retrying: q.stats.retrying, running: q.stats.running }]),
    );
    // The full read's total is the sum of its own counts: never a mix of two reads.
    for (const q of fullRows) expect(q.stats.total).toBeGreaterThanOrEqual((q.stats.succeeded ?? 0) + (q.stats.pending ?? 0));
  });
});

it('counts live tasks right: mail as an admin sees it, and a tenant sees none of it but its finished task', async () => {
  const query = '{ queues { name stats { queue blocked pending running retrying oldestPendingAgeMs } } }';
  const asAdmin = ((await post(admin, query)).data?.queues as Row[]).find((q) => q.name === 'mail');
  expect(asAdmin?.stats).toMatchObject({ queue: 'mail', blocked: 1, pending: 4, running: 1, retrying: 2 });
  // Waiting since enqueued (now), though due a minute ago: counted from when it was enqueued.
  expect(asAdmin?.stats.oldestPendingAgeMs).toBeGreaterThanOrEqual(0);
  expect(asAdmin?.stats.oldestPendingAgeMs).toBeLessThan(59_000);
  const asAcme = ((await post(acme, query)).data?.queues as Row[]).find((q) => q.name === 'mail');
  expect(asAcme?.stats).toEqual({ queue: 'mail', blocked: 0, pending: 0, running: 0, retrying: 0, oldestPendingAgeMs: null });
  const paused = await post(admin, panel.PAUSE, { name: 'mail' });
  expect(paused.data?.pauseQueue).toMatchObject({ name: 'mail', paused: true, stats: { pending: 4, retrying: 2, running: 1 } });
  const resumed = await post(admin, 'mutation { resumeQueue(name: "mail") { stats { pending succeeded total } } }');
  expect(resumed.data?.resumeQueue).toEqual({ stats: { pending: 4, succeeded: 301, total: 309 } }); // 300 + acme's 1: an admin counts every tenant
});
