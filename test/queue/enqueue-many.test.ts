import { describe, expect, it } from 'vitest';
import { enqueueTasks, STATEMENT_ROWS, type EnqueueInput, type QueueScope } from '../../src/queue/enqueue.js';
import type { Task } from '../../src/queue/task.js';
import { countTasks, eventsOf, useQueueTestApp } from '../helpers/factories.js';

// The bulk insert sends each column as one value when every row shares it, else as a JSON array
// read by row number (src/queue/sql/insert-tasks.ts): these tests make every column vary, and
// stay the same, and compare what comes back with what PostgreSQL stored.
const ctx = useQueueTestApp();
const LIMITS = { maxArgsBytes: 100_000 };
const SCOPE: QueueScope = { readTenant: null, writeTenant: 'default', createdBy: 'principal-1' };

/** The ENQUEUED events of `tasks` in the log, by task id. */
async function loggedEvents(tasks: readonly Task[]): Promise<Map<string, { version: number; type: string; status: string }[]>> {
  const rows = await ctx.app.sql`
    SELECT task_id, version, type, status FROM task_events WHERE task_id = ANY(${tasks.map((t) => t.id)}::uuid[]) ORDER BY task_id, version`;
  const byTask = new Map<string, { version: number; type: string; status: string }[]>();
  for (const r of rows) {
    const list = byTask.get(r.taskId as string) ?? [];
    list.push({ version: Number(r.version), type: r.type as string, status: r.status as string });
    byTask.set(r.taskId as string, list);
  }
  return byTask;
}

async function enqueueMany(inputs: readonly EnqueueInput[], scope: QueueScope = SCOPE): Promise<Task[]> {
  return enqueueTasks(ctx.app.sql, ctx.app.deps.registry, inputs, LIMITS, scope);
}

describe('enqueueTasks (bulk)', () => {
  it('stores every field of rows that differ in every column as returned, with one ENQUEUED event at version 1 each', async () => {
    const runAfter = new Date(Date.now() + 3_600_000);
    const inputs: EnqueueInput[] = [
      { name: 'math.copysign', args: [1, -2] },
      {
        name: 'demo.sleep',
        args: [0],
        kwargs: { 'quote"and\\slash': ['ünï', null, { deep: 1.5 }] },
        queue: 'other "queue"',
        priority: -7,
        runAfter,
        maxAttempts: 4,
        idempotencyKey: 'bulk-"key"\\1',
        timeoutMs: 1500,
        resultTtlMs: 9_000_000_000,
        backoff: { baseMs: 5 },
        tenant: 'tenant-b',
        concurrencyKey: 'customer,{42}',
      },
      { name: 'demo.echo', args: ['x', { y: [true, false] }], priority: 100, tenant: 'tenant-c', concurrencyKey: 'c2' },
    ];
    const tasks = await enqueueMany(inputs);
    expect(tasks.map((t) => t.name)).toEqual(['math.copysign', 'demo.sleep', 'demo.echo']);
    expect(tasks[1]).toMatchObject({
      queue: 'other "queue"',
      priority: -7,
      runAfter,
      maxAttempts: 4,
      idempotencyKey: 'bulk-"key"\\1',
      timeoutMs: 1500,
      resultTtlMs: 9_000_000_000,
      tenant: 'tenant-b',
      createdBy: 'principal-1',
      concurrencyKey: 'customer,{42}',
      kwargs: { 'quote"and\\slash': ['ünï', null, { deep: 1.5 }] },
    });
    expect(tasks[0]).toMatchObject({ queue: 'default', priority: 0, backoff: null, tenant: 'default', concurrencyKey: null, idempotencyKey: null });
    // What came back is what was stored (newTask builds it from the input and the table's defaults).
    for (const t of tasks) expect(await ctx.app.deps.queue.getTask(t.id)).toEqual(t);
    const logged = await loggedEvents(tasks);
    for (const t of tasks) expect(logged.get(t.id)).toEqual([{ version: 1, type: 'ENQUEUED', status: 'PENDING' }]);
    for (const t of tasks) expect(await eventsOf(ctx.recorder, ctx.app.sql, t.id)).toEqual([{ version: 1, status: 'PENDING' }]);
    // `default` is due now: woken by its name; `other "queue"` later: a due notice (src/queue/due-notice.ts).
    expect(ctx.recorder.jobs).toEqual(expect.arrayContaining(['default', expect.stringMatching(/^due:\d+:other "queue"$/)]));
  });

  it('stores 2,000 rows that share every column but the arguments, each with its event', async () => {
    const inputs = Array.from({ length: 2000 }, (_, i) => ({ name: 'demo.echo', args: [i], queue: 'shared', priority: 3, maxAttempts: 2 }));
    const tasks = await enqueueMany(inputs);
    expect(tasks.map((t) => t.args[0])).toEqual(inputs.map((_, i) => i));
    const rows = await ctx.app.sql`
      SELECT count(*)::int AS n, count(DISTINCT args)::int AS args, min(priority)::int AS p, max(max_attempts)::int AS m, bool_and(queue = 'shared') AS q,
             bool_and(created_by = 'principal-1') AS cb, bool_and(run_after = enqueued_at) AS ra
      FROM tasks WHERE id = ANY(${tasks.map((t) => t.id)}::uuid[])`;
    expect(rows[0]).toEqual({ n: 2000, args: 2000, p: 3, m: 2, q: true, cb: true, ra: true });
    const logged = await loggedEvents(tasks);
    expect(tasks.every((t) => logged.get(t.id)?.length === 1 && logged.get(t.id)?.[0]?.version === 1)).toBe(true);
  });

  it('settles idempotency keys per row: an existing key returns its task, a repeat in the batch the first one, no second event', async () => {
    const [existing] = await enqueueMany([{ name: 'demo.echo', args: ['old'], idempotencyKey: 'bulk-existing' }]);
    const before = await countTasks(ctx.app.sql);
    const tasks = await enqueueMany([
      { name: 'demo.echo', args: ['a'], idempotencyKey: 'bulk-existing' },
      { name: 'demo.echo', args: ['b'], idempotencyKey: 'bulk-new' },
      { name: 'demo.echo', args: ['c'] },
      { name: 'demo.echo', args: ['d'], idempotencyKey: 'bulk-new' },
      // Keys are unique per tenant: the same key in another tenant is another task.
      { name: 'demo.echo', args: ['e'], idempotencyKey: 'bulk-existing', tenant: 'tenant-b' },
    ]);
    expect(tasks[0]).toEqual(existing);
    expect(tasks[3]?.id).toBe(tasks[1]?.id);
    expect(tasks[4]?.id).not.toBe(existing?.id);
    expect(await countTasks(ctx.app.sql)).toBe(before + 3);
    const logged = await loggedEvents(tasks);
    for (const t of tasks) expect(logged.get(t.id)).toEqual([{ version: 1, type: 'ENQUEUED', status: 'PENDING' }]);
  });

  it('writes nothing when one input is bad, and names it by index', async () => {
    const before = await countTasks(ctx.app.sql);
    const inputs: EnqueueInput[] = Array.from({ length: 50 }, (_, i) => ({ name: 'demo.echo', args: [i] }));
    inputs[37] = { name: 'demo.echo', priority: 101 };
    await expect(enqueueMany(inputs)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: '[37].priority' });
    expect(await countTasks(ctx.app.sql)).toBe(before);
  });

  it('two calls with the same keys in opposite orders, side by side, do not deadlock: each gets the keys\' one task', async () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `order-${i}`);
    for (let round = 0; round < 3; round++) {
      const inputs = keys.map((key) => ({ name: 'demo.echo', args: [round], idempotencyKey: `${key}-${round}` }));
      const [forward, backward] = await Promise.all([enqueueMany(inputs), enqueueMany([...inputs].reverse())]);
      expect(backward.map((t) => t.id).reverse()).toEqual(forward.map((t) => t.id));
    }
  });

  it('Queue.enqueueMany: fieldPrefix names every input, one alone too; checkExisting sees tasks stored before the call, and its refusal stores none', async () => {
    const queue = ctx.app.deps.queue;
    await expect(queue.enqueueMany([{ name: 'demo.echo', priority: 101 }], { fieldPrefix: 'items' })).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'items[0].priority',
      message: expect.stringContaining('items[0].priority'),
    });
    const [stored] = await queue.enqueueMany([{ name: 'demo.echo', args: ['old'], idempotencyKey: 'check-existing' }]);
    const before = await countTasks(ctx.app.sql);
    const seen: [string, number][] = [];
    const inputs: EnqueueInput[] = [
      { name: 'demo.echo', args: ['new'], idempotencyKey: 'check-new' },
      { name: 'demo.echo', args: ['again'], idempotencyKey: 'check-new' },
      { name: 'demo.echo', args: ['replayed'], idempotencyKey: 'check-existing' },
    ];
    const tasks = await queue.enqueueMany(inputs, { checkExisting: (task, i) => void seen.push([task.id, i]) });
    expect(seen).toEqual([[stored?.id, 2]]);
    expect(tasks[2]).toEqual(stored);
    expect(await countTasks(ctx.app.sql)).toBe(before + 1);

    const refusal = new Error('not yours');
    const more: EnqueueInput[] = [{ name: 'demo.echo', args: ['x'], idempotencyKey: 'check-other' }, ...inputs];
    await expect(queue.enqueueMany(more, { checkExisting: () => { throw refusal; } })).rejects.toBe(refusal);
    expect(await countTasks(ctx.app.sql)).toBe(before + 1);
  });
});

describe('Queue.enqueueMany of more than STATEMENT_ROWS tasks without keys (several statements, one transaction)', () => {
  const inputsOf = (n: number, queue = 'parts'): EnqueueInput[] => Array.from({ length: n }, (_, i) => ({ name: 'demo.echo', args: [i], queue }));
  /** Statements and transactions that inserted `tasks`: rows of one statement share (xmin, cmin), of one transaction xmin. */
  async function writersOf(tasks: readonly Task[]): Promise<{ statements: number; transactions: number }> {
    const [row] = await ctx.app.sql`
      SELECT count(DISTINCT (xmin::text, cmin::text))::int AS statements, count(DISTINCT xmin::text)::int AS transactions
      FROM tasks WHERE id = ANY(${tasks.map((t) => t.id)}::uuid[])`;
    return { statements: Number(row?.statements), transactions: Number(row?.transactions) };
  }

  it('stores them in statements of STATEMENT_ROWS in one transaction, returned in input order as stored, one ENQUEUED event each', async () => {
    const n = 2 * STATEMENT_ROWS + 500;
    const tasks = await ctx.app.deps.queue.enqueueMany(inputsOf(n));
    expect(tasks.map((t) => t.args[0])).toEqual(inputsOf(n).map((_, i) => i));
    expect(await writersOf(tasks)).toEqual({ statements: 3, transactions: 1 });
    const stored = new Map((await ctx.app.deps.queue.getTasks(tasks.map((t) => t.id))).map((t) => [t.id, t]));
    expect(tasks.every((t) => JSON.stringify(stored.get(t.id)) === JSON.stringify(t))).toBe(true);
    const logged = await loggedEvents(tasks);
    expect(tasks.every((t) => logged.get(t.id)?.length === 1 && logged.get(t.id)?.[0]?.version === 1)).toBe(true);
  });

  it('sends each part as soon as it is prepared: the first statement goes out before the last part is prepared', async () => {
    // postgres.js's `debug` runs as it builds a query's message, right before writing it to the socket:
    // when each part's statement left. (The database's own clock would say when it began, but that
    // also waits for a core on a loaded machine: it flaked beside other test files.)
    const sentAt: number[] = [];
    // The app's own client (its types and settings), its debug hook set for this test alone.
    const options = ctx.app.sql.options as { debug?: unknown };
    options.debug = (_connection: number, query: string): void => {
      if (query.includes('taskwire_enqueue')) sentAt.push(performance.now());
    };
    try {
      const inputs = inputsOf(3 * STATEMENT_ROWS);
      let lastPartReadAt = 0;
      const first = inputs[2 * STATEMENT_ROWS] as EnqueueInput;
      inputs[2 * STATEMENT_ROWS] = {
        ...first,
        get name(): string {
          lastPartReadAt ||= performance.now();
          return first.name;
        },
      };
      const tasks = await ctx.app.deps.queue.enqueueMany(inputs);
      expect(tasks).toHaveLength(3 * STATEMENT_ROWS);
      expect(sentAt).toHaveLength(3);
      // Before the fix, every part was prepared before the first one left.
      expect(sentAt[0]).toBeLessThan(lastPartReadAt);
    } finally {
      delete options.debug;
    }
  });

  it('refuses the call when an input of a later part is invalid, listing the invalid inputs of every part, and stores nothing', async () => {
    const before = await countTasks(ctx.app.sql);
    const inputs = inputsOf(2 * STATEMENT_ROWS + 10);
    // The first part is sent before the third is prepared: the refusal must roll it back.
    inputs[STATEMENT_ROWS + 5] = { name: 'demo.echo', priority: 101 };
    inputs[2 * STATEMENT_ROWS + 3] = { name: 'no.such.task' };
    await expect(ctx.app.deps.queue.enqueueMany(inputs)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      field: `[${STATEMENT_ROWS + 5}].priority`,
      details: { invalidCount: 2, invalidInputs: [{ field: `[${STATEMENT_ROWS + 5}].priority` }, { field: `[${2 * STATEMENT_ROWS + 3}].name`, code: 'UNKNOWN_TASK' }] },
    });
    expect(await countTasks(ctx.app.sql)).toBe(before);
  });

  it("fails whole when the database refuses a row of a later statement, stores nothing, and leaves the pool's connections usable", async () => {
    const before = await countTasks(ctx.app.sql);
    await ctx.app.sql.unsafe(`ALTER TABLE tasks ADD CONSTRAINT test_no_refused_queue CHECK (queue <> 'refused')`);
    try {
      const inputs = inputsOf(2 * STATEMENT_ROWS + 10);
      inputs[STATEMENT_ROWS + 7] = { name: 'demo.echo', args: ['x'], queue: 'refused' };
      await expect(ctx.app.deps.queue.enqueueMany(inputs)).rejects.toMatchObject({ code: '23514' });
      expect(await countTasks(ctx.app.sql)).toBe(before);
    } finally {
      await ctx.app.sql.unsafe('ALTER TABLE tasks DROP CONSTRAINT test_no_refused_queue');
    }
    // Every connection of the pool (10) at once, each held by a statement: none was left inside the failed
    // transaction (it would answer 25P02), and enqueues go on.
    const held = await Promise.all(Array.from({ length: 10 }, () => ctx.app.sql`SELECT pg_sleep(0.05), pg_backend_pid() AS pid`));
    expect(new Set(held.map(([row]) => row?.pid)).size).toBe(10);
    const again = await Promise.all(Array.from({ length: 10 }, (_, i) => ctx.app.deps.queue.enqueueMany(inputsOf(3, `after-${i}`))));
    expect(again.flat()).toHaveLength(30);
  });
});

describe('Queue.enqueueMany and enqueue given what is not an input', () => {
  it.each([3, STATEMENT_ROWS + 1])('refuse a null among %i inputs as that input (BAD_USER_INPUT naming its index), as a rejected promise', async (n) => {
    const before = await countTasks(ctx.app.sql);
    const inputs = Array.from({ length: n }, (_, i): EnqueueInput => ({ name: 'demo.echo', args: [i] }));
    (inputs as unknown[])[1] = null;
    const call = ctx.app.deps.queue.enqueueMany(inputs);
    await expect(call).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: '[1]' });
    expect(await countTasks(ctx.app.sql)).toBe(before);
    await expect(ctx.app.deps.queue.enqueue(null as unknown as EnqueueInput)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
  });
});
