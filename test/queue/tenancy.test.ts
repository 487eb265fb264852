import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TENANT, type Queue, type Task } from '../../src/queue/index.js';
import { encodeCursor } from '../../src/queue/list.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { insertBulkTasks } from '../helpers/bulk-tasks.js';
import { insertTask } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

let app: TestApp;
let queue: Queue;
let acme: Queue;
let globex: Queue;
beforeAll(async () => {
  app = await createTestApp();
  queue = app.deps.queue;
  acme = queue.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: 'key-acme' });
  globex = queue.scoped({ readTenant: 'globex', writeTenant: 'globex', createdBy: 'key-globex' });
});
afterAll(async () => {
  await app?.close();
});

/** What a caller can tell of a refusal: everything, with the id it named written as `<id>`. */
async function refusal(attempt: Promise<unknown>, id: string): Promise<Record<string, unknown>> {
  try {
    await attempt;
  } catch (error) {
    const e = error as { name: string; code: unknown; field: unknown; message: string; details: unknown };
    return { name: e.name, code: e.code, field: e.field, details: e.details, message: e.message.split(id).join('<id>') };
  }
  throw new Error('expected a refusal');
}

/** Tasks of both tenants in a queue of their own and in a shared one. */
async function twoTenants(): Promise<{ mine: Task[]; theirs: Task[] }> {
  const mine = await acme.enqueueMany([
    { name: 'demo.echo', args: [1], queue: 'q-acme', runAfter: new Date(Date.now() + 3_600_000) },
    { name: 'demo.echo', args: [2], queue: 'q-shared', runAfter: new Date(Date.now() + 3_600_000) },
  ]);
  const theirs = await globex.enqueueMany([
    { name: 'demo.echo', args: [3], queue: 'q-globex', runAfter: new Date(Date.now() + 3_600_000) },
    { name: 'demo.echo', args: [4], queue: 'q-shared', runAfter: new Date(Date.now() + 3_600_000) },
    { name: 'demo.echo', args: [5], queue: 'q-shared', runAfter: new Date(Date.now() + 3_600_000) },
  ]);
  return { mine, theirs };
}

describe('Queue.scoped: enqueue', () => {
  it('stamps the tenant and the creator on every path: batched, enqueueMany, and both inside a transaction', async () => {
    const one = await acme.enqueue({ name: 'demo.echo', args: ['one'] });
    const many = await acme.enqueueMany([{ name: 'demo.echo' }, { name: 'demo.echo' }]);
    const inTx = await app.sql.begin(async (tx) => [
      await acme.enqueue({ name: 'demo.echo' }, { tx }),
      ...(await acme.enqueueMany([{ name: 'demo.echo' }], { tx })),
    ]);
    const made = [one, ...many, ...inTx];
    for (const task of made) expect(task).toMatchObject({ tenant: 'acme', createdBy: 'key-acme' });
    // What was stored, not only what was returned.
    const stored = await queue.getTasks(made.map((t) => t.id));
    expect(stored.map((t) => [t.tenant, t.createdBy])).toEqual(made.map(() => ['acme', 'key-acme']));
  });

  it('batches concurrent enqueues of different tenants into one statement, each stored with its own tenant', async () => {
    const plain = queue.scoped({ readTenant: null, writeTenant: 'initech', createdBy: null });
    const calls = Array.from({ length: 12 }, (_, i) =>
      [acme, globex, plain, queue][i % 4]!.enqueue({ name: 'demo.echo', args: [i], runAfter: new Date(Date.now() + 3_600_000) }),
    );
    const tasks = await Promise.all(calls);
    const [row] = await app.sql`SELECT count(DISTINCT xmin::text)::int AS n FROM tasks WHERE id = ANY(${tasks.map((t) => t.id)}::uuid[])`;
    expect(Number(row?.n)).toBe(1);
    const stored = new Map((await queue.getTasks(tasks.map((t) => t.id))).map((t) => [t.id, t]));
    const expected = [
      ['acme', 'key-acme'],
      ['globex', 'key-globex'],
      ['initech', null],
      ['default', null],
    ];
    tasks.forEach((task, i) => {
      expect([task.tenant, task.createdBy]).toEqual(expected[i % 4]);
      expect([stored.get(task.id)?.tenant, stored.get(task.id)?.createdBy]).toEqual(expected[i % 4]);
    });
  });

  it('lets the unscoped queue enqueue many tenants in one enqueueMany (EnqueueInput.tenant, else default)', async () => {
    const tasks = await queue.enqueueMany([
      { name: 'demo.echo', tenant: 'acme' },
      { name: 'demo.echo' },
      { name: 'demo.echo', tenant: 'globex' },
    ]);
    expect(tasks.map((t) => [t.tenant, t.createdBy])).toEqual([
      ['acme', null],
      ['default', null],
      ['globex', null],
    ]);
    const stored = await queue.getTasks(tasks.map((t) => t.id));
    expect(new Map(stored.map((t) => [t.id, t.tenant]))).toEqual(new Map(tasks.map((t) => [t.id, t.tenant])));
  });

  it('refuses a tenant named by a queue limited to another (FORBIDDEN), a malformed one (BAD_USER_INPUT), and stores nothing', async () => {
    const before = await app.countTasks();
    await expect(acme.enqueue({ name: 'demo.echo', tenant: 'globex' })).rejects.toMatchObject({ code: 'FORBIDDEN', field: 'tenant' });
    await expect(acme.enqueueMany([{ name: 'demo.echo' }, { name: 'demo.echo', tenant: 'globex' }])).rejects.toMatchObject({
      code: 'FORBIDDEN',
      field: '[1].tenant',
    });
    for (const bad of ['', 'a\u0000b', 'x'.repeat(201)]) {
      await expect(queue.enqueue({ name: 'demo.echo', tenant: bad })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'tenant' });
    }
    expect(await app.countTasks()).toBe(before);
    // Its own tenant named explicitly is fine; so is any tenant for a queue that sees every tenant.
    expect((await acme.enqueue({ name: 'demo.echo', tenant: 'acme' })).tenant).toBe('acme');
    const admin = queue.scoped({ readTenant: null, writeTenant: 'acme', createdBy: 'admin-1' });
    expect(await admin.enqueue({ name: 'demo.echo', tenant: 'globex' })).toMatchObject({ tenant: 'globex', createdBy: 'admin-1' });
  });
});

describe('Queue.scoped: idempotency keys are unique per tenant', () => {
  it('makes two tasks for one key in two tenants, and one within a tenant', async () => {
    const a1 = await acme.enqueue({ name: 'demo.echo', idempotencyKey: 'order-1' });
    const g1 = await globex.enqueue({ name: 'demo.echo', idempotencyKey: 'order-1' });
    const a2 = await acme.enqueue({ name: 'demo.echo', idempotencyKey: 'order-1' });
    const [g2] = await globex.enqueueMany([{ name: 'demo.echo', idempotencyKey: 'order-1' }]);
    expect(g1.id).not.toBe(a1.id);
    expect(a2.id).toBe(a1.id);
    expect(g2?.id).toBe(g1.id);
    const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE idempotency_key = 'order-1'`;
    expect(Number(row?.n)).toBe(2);
  });

  it('sees no conflict with a key another tenant holds under another task name, on every enqueue path', async () => {
    const theirs = await globex.enqueue({ name: 'demo.sleep', args: [1], idempotencyKey: 'shared-key', runAfter: new Date(Date.now() + 3_600_000) });
    const batched = await acme.enqueue({ name: 'demo.echo', idempotencyKey: 'shared-key' });
    const [many] = await acme.enqueueMany([{ name: 'demo.echo', idempotencyKey: 'shared-key-2' }]);
    await globex.enqueue({ name: 'demo.sleep', args: [1], idempotencyKey: 'shared-key-2', runAfter: new Date(Date.now() + 3_600_000) });
    const [again] = await acme.enqueueMany([{ name: 'demo.echo', idempotencyKey: 'shared-key-2' }]);
    expect(batched).toMatchObject({ tenant: 'acme', name: 'demo.echo' });
    expect(batched.id).not.toBe(theirs.id);
    expect(again?.id).toBe(many?.id);
    // Within a tenant a key of another name is still a CONFLICT (batched and all-or-nothing).
    await expect(acme.enqueue({ name: 'demo.sleep', args: [1], idempotencyKey: 'shared-key' })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(acme.enqueueMany([{ name: 'demo.sleep', args: [1], idempotencyKey: 'shared-key' }])).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'idempotencyKey',
    });
  });

  it('settles a key repeated across tenants within one enqueueMany as two tasks, and within one tenant as one', async () => {
    const tasks = await queue.enqueueMany([
      { name: 'demo.echo', tenant: 'acme', idempotencyKey: 'mixed' },
      { name: 'demo.sleep', args: [1], tenant: 'globex', idempotencyKey: 'mixed', runAfter: new Date(Date.now() + 3_600_000) },
      { name: 'demo.echo', tenant: 'acme', idempotencyKey: 'mixed' },
    ]);
    expect(tasks.map((t) => [t.tenant, t.name])).toEqual([
      ['acme', 'demo.echo'],
      ['globex', 'demo.sleep'],
      ['acme', 'demo.echo'],
    ]);
    expect(tasks[2]?.id).toBe(tasks[0]?.id);
    expect(tasks[1]?.id).not.toBe(tasks[0]?.id);
  });
});

describe('Queue.scoped: reads', () => {
  it('getTask and getTasks see only their tenant: a foreign id reads as an unknown one', async () => {
    const { mine, theirs } = await twoTenants();
    const unknown = uuidv7();
    expect(await acme.getTask(mine[0]!.id)).toMatchObject({ id: mine[0]!.id, tenant: 'acme' });
    expect(await acme.getTask(theirs[0]!.id)).toBeUndefined();
    expect(await acme.getTask(unknown)).toBeUndefined();
    const got = await acme.getTasks([...mine, ...theirs].map((t) => t.id).concat(unknown));
    expect(got.map((t) => t.id).sort()).toEqual(mine.map((t) => t.id).sort());
    // The unscoped queue sees every tenant.
    expect((await queue.getTasks([...mine, ...theirs].map((t) => t.id))).length).toBe(5);
  });

  it('listTasks and totalCount count only the tenant, with and without filters; a filter naming another tenant finds nothing', async () => {
    await twoTenants();
    const own = await app.sql`SELECT id FROM tasks WHERE tenant = 'acme' ORDER BY id DESC`;
    const page = await acme.listTasks({ first: 100 });
    expect(page.tasks.map((t) => t.id)).toEqual(own.map((r) => r.id));
    expect(await page.totalCount()).toBe(own.length);
    const shared = await acme.listTasks({ first: 100, filter: { queue: 'q-shared' } });
    expect(shared.tasks.every((t) => t.tenant === 'acme' && t.queue === 'q-shared')).toBe(true);
    const [sharedCount] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE tenant = 'acme' AND queue = 'q-shared'`;
    expect(await shared.totalCount()).toBe(Number(sharedCount?.n));
    const elsewhere = await acme.listTasks({ first: 100, filter: { tenant: 'globex' } });
    expect(elsewhere.tasks).toEqual([]);
    expect(await elsewhere.totalCount()).toBe(0);
    // The unscoped queue filters by tenant when asked (tasks_tenant_not_default_idx).
    const theirs = await queue.listTasks({ first: 100, filter: { tenant: 'globex' } });
    const [theirCount] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE tenant = 'globex'`;
    expect(theirs.tasks.every((t) => t.tenant === 'globex')).toBe(true);
    expect(await theirs.totalCount()).toBe(Number(theirCount?.n));
  });

  it("lists the default tenant's tasks without a tenant index entry, and another tenant's through tasks_tenant_not_default_idx", async () => {
    // The index leaves out 'default' (every task of a deployment without tenants): a claim or a
    // completion writes no entry there. A scoped list of 'default' walks the primary key instead.
    const [index] = await app.sql`SELECT pg_get_expr(indpred, indrelid) AS predicate FROM pg_index WHERE indexrelid = 'tasks_tenant_not_default_idx'::regclass`;
    expect(index?.predicate).toBe(`(tenant <> '${DEFAULT_TENANT}'::text)`);
    await insertBulkTasks(app.sql, { count: 3000, status: 'SUCCEEDED', name: 'tenancy.bulk' });
    await insertBulkTasks(app.sql, { count: 20, status: 'SUCCEEDED', name: 'tenancy.bulk', tenant: 'initech' });
    await app.sql`ANALYZE tasks`;
    const plan = await app.sql`EXPLAIN SELECT id FROM tasks WHERE tenant = ${'initech'} AND name = ${'tenancy.bulk'} ORDER BY id DESC LIMIT 51`;
    expect(plan.map((r) => String(r['QUERY PLAN'])).join('\n')).toContain('tasks_tenant_not_default_idx');
    const initech = queue.scoped({ readTenant: 'initech', writeTenant: 'initech', createdBy: null });
    const theirs = await initech.listTasks({ first: 50, filter: { name: 'tenancy.bulk' } });
    expect(theirs.tasks).toHaveLength(20);
    expect(await theirs.totalCount()).toBe(20);

    const byDefault = queue.scoped({ readTenant: 'default', writeTenant: 'default', createdBy: null });
    const expected = await app.sql`SELECT id FROM tasks WHERE tenant = 'default' ORDER BY id DESC LIMIT 100`;
    const first = await byDefault.listTasks({ first: 60 });
    const second = await byDefault.listTasks({ first: 40, after: encodeCursor(first.tasks.at(-1)!.id) });
    expect([...first.tasks, ...second.tasks].map((t) => t.id)).toEqual(expected.map((r) => r.id));
    const [all] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE tenant = 'default'`;
    expect(await first.totalCount()).toBe(all?.n);
  });

  it('queueStats counts only the tenant, and leaves out queues only another tenant uses', async () => {
    await twoTenants();
    const stats = await acme.queueStats();
    const queues = stats.map((s) => s.queue);
    expect(queues).toContain('q-acme');
    expect(queues).not.toContain('q-globex');
    const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE tenant = 'acme' AND queue = 'q-shared'`;
    const shared = stats.find((s) => s.queue === 'q-shared');
    expect(Object.values(shared?.counts ?? {}).reduce((a, b) => a + b, 0)).toBe(Number(row?.n));
  });

  it('cancelTask and retryTask refuse a foreign id exactly as an unknown one, and leave the task alone', async () => {
    const { theirs } = await twoTenants();
    const pending = theirs[0]!;
    const failed = await insertTask(app.sql, { status: 'FAILED', tenant: 'globex' });
    const unknown = uuidv7();
    for (const [call, task] of [
      [(id: string) => acme.cancelTask(id), pending],
      [(id: string) => acme.retryTask(id), failed],
    ] as const) {
      const foreign = await refusal(call(task.id), task.id);
      expect(foreign).toEqual(await refusal(call(unknown), unknown));
      expect(foreign).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
      expect(await queue.getTask(task.id)).toMatchObject({ status: task.status, version: task.version });
    }
    // Its own tenant's queue can.
    expect((await globex.cancelTask(pending.id)).status).toBe('CANCELLED');
    expect((await globex.retryTask(failed.id)).status).toBe('PENDING');
    await globex.cancelTask(failed.id);
  });

  it("gives a foreign task's event log as empty as an unknown one's, in listTaskEvents and readEventsAfter", async () => {
    const { mine, theirs } = await twoTenants();
    const unknown = uuidv7();
    const foreign = await acme.listTaskEvents({ taskId: theirs[0]!.id });
    expect(foreign).toEqual(await acme.listTaskEvents({ taskId: unknown }));
    expect(foreign).toEqual({ events: [], hasNextPage: false, hasPreviousPage: false });
    // Paged back from a version, the probe past it is the tenant's too: nothing says the log exists.
    expect(await acme.listTaskEvents({ taskId: theirs[0]!.id, last: 5, beforeVersion: 1 })).toEqual({ events: [], hasNextPage: false, hasPreviousPage: false });
    expect((await globex.listTaskEvents({ taskId: theirs[0]!.id, last: 5, beforeVersion: 1 })).hasNextPage).toBe(true);
    expect((await acme.listTaskEvents({ taskId: mine[0]!.id })).events.map((e) => e.type)).toEqual(['ENQUEUED']);
    expect((await globex.listTaskEvents({ taskId: theirs[0]!.id })).events).toHaveLength(1);
    const events = await acme.readEventsAfter(
      [...mine, ...theirs].map((t) => ({ id: t.id, afterVersion: 0 })),
      10,
    );
    expect(events.map((e) => e.taskId).sort()).toEqual(mine.map((t) => t.id).sort());
  });

  it('reads only its tenant from the global feed; the unscoped feed names each event\'s tenant', async () => {
    const start = await queue.feedEnd();
    const { mine, theirs } = await twoTenants();
    const mineIds = new Set(mine.map((t) => t.id));
    const page = await waitFor(async () => {
      const p = await acme.readFeed({ after: start, limit: 1000 });
      return p.events.filter((e) => mineIds.has(e.taskId)).length === mine.length ? p : undefined;
    }, { message: "acme's events in the feed" });
    expect(page.events.every((e) => e.task.tenant === 'acme')).toBe(true);
    const all = await queue.readFeed({ after: start, limit: 1000 });
    const tenantOf = new Map(all.events.map((e) => [e.taskId, e.task.tenant]));
    for (const t of theirs) expect(tenantOf.get(t.id)).toBe('globex');
    for (const t of mine) expect(tenantOf.get(t.id)).toBe('acme');
  });
});

describe('Queue.scoped: the scope itself', () => {
  it('cannot be widened from a scoped queue, and refuses tenants the database cannot hold', () => {
    expect(() => acme.scoped({ readTenant: null, writeTenant: 'acme', createdBy: null })).toThrow();
    expect(() => acme.scoped({ readTenant: 'globex', writeTenant: 'globex', createdBy: null })).toThrow();
    expect(acme.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: 'another-key' }).scope).toEqual({
      readTenant: 'acme',
      writeTenant: 'acme',
      createdBy: 'another-key',
    });
    expect(() => queue.scoped({ readTenant: 'a\u0000', writeTenant: 'a', createdBy: null })).toThrow();
    expect(() => queue.scoped({ readTenant: null, writeTenant: '', createdBy: null })).toThrow();
    expect(queue.scope).toEqual({ readTenant: null, writeTenant: 'default', createdBy: null });
  });
});
