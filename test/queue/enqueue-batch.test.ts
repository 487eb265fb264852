import { describe, expect, it } from 'vitest';
import { GROUP_MAX, GROUP_MAX_BYTES } from '../../src/queue/enqueue-batcher.js';
import type { EnqueueInput, Task } from '../../src/queue/index.js';
import { countTasks, flushEvents, useQueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

const t = useQueueTestApp();

type Settled = { ok: true; task: Task } | { ok: false; code: unknown; field: unknown };

/** Starts every enqueue in the same tick (so they share statements) and settles each one. */
async function enqueueAll(inputs: readonly EnqueueInput[]): Promise<Settled[]> {
  const results = await Promise.allSettled(inputs.map((input) => t.app.deps.queue.enqueue(input)));
  return results.map((r) =>
    r.status === 'fulfilled'
      ? { ok: true, task: r.value }
      : { ok: false, code: (r.reason as { code?: unknown }).code, field: (r.reason as { field?: unknown }).field },
  );
}

/** The stored rows of `tasks`, in their order: what each caller got must be what was stored. */
async function stored(tasks: readonly Task[]): Promise<(Task | undefined)[]> {
  const byId = new Map((await t.app.deps.queue.getTasks(tasks.map((task) => task.id))).map((task) => [task.id, task]));
  return tasks.map((task) => byId.get(task.id));
}

/** How many transactions inserted these tasks (rows of one transaction share their xmin). */
async function transactionsOf(tasks: readonly Task[]): Promise<number> {
  const [row] = await t.app.sql`SELECT count(DISTINCT xmin::text)::int AS n FROM tasks WHERE id = ANY(${tasks.map((task) => task.id)}::uuid[])`;
  return Number(row?.n);
}

/** Ways the database refuses a row that validation let through (queue 'forbidden'), each undone by `remove`. */
const REFUSALS = [
  {
    label: 'a CHECK constraint',
    code: '23514',
    install: `ALTER TABLE tasks ADD CONSTRAINT test_no_forbidden_queue CHECK (queue <> 'forbidden')`,
    remove: 'ALTER TABLE tasks DROP CONSTRAINT test_no_forbidden_queue',
  },
  {
    label: "a trigger's RAISE",
    code: 'P0001',
    install: `
      CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.queue = 'forbidden' THEN RAISE EXCEPTION 'refused'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_refuse BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION test_refuse();`,
    remove: 'DROP TRIGGER test_refuse ON tasks; DROP FUNCTION test_refuse()',
  },
];

/** Waits until `n` statements inserting into tasks wait for a lock. */
function insertsWaitingForLock(n: number): Promise<true> {
  return waitFor(async () => {
    const [row] = await t.app.sql`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE wait_event_type = 'Lock' AND (query LIKE '%INSERT INTO tasks%' OR query LIKE '%taskwire_enqueue(%')
        AND datname = current_database()`;
    return Number(row?.n) === n || undefined;
  }, { message: `${n} enqueue statements waiting for a lock` }) as Promise<true>;
}

function taskOf(result: Settled | undefined): Task {
  if (!result?.ok) throw new Error(`expected a task, got ${JSON.stringify(result)}`);
  return result.task;
}

describe('enqueue (group commit)', () => {
  it('gives each of 50 concurrent callers its own task or its own error, with one event per new task', async () => {
    const { queue } = t.app.deps;
    const existing = await queue.enqueue({ name: 'demo.echo', args: ['before'], idempotencyKey: 'batch-existing' });
    const existingOther = await queue.enqueue({ name: 'demo.sleep', args: [1], idempotencyKey: 'batch-existing-other' });
    const before = await countTasks(t.app.sql);
    await flushEvents(t.recorder, t.app.sql); // the set-up's events are in, and out of the way
    t.recorder.events.length = 0;

    const inputs: EnqueueInput[] = [
      ...Array.from({ length: 40 }, (_, i): EnqueueInput => ({ name: 'demo.echo', args: [i] })),
      ...Array.from({ length: 4 }, (_, i): EnqueueInput => ({ name: 'demo.echo', args: [`dup-${i}`], idempotencyKey: 'batch-dup' })),
      { name: 'demo.echo', args: ['again'], idempotencyKey: 'batch-existing' },
      { name: 'demo.echo', args: ['other'], idempotencyKey: 'batch-existing-other' },
      { name: 'demo.echo', args: ['first'], idempotencyKey: 'batch-name' },
      { name: 'demo.sleep', args: [1], idempotencyKey: 'batch-name' },
      { name: 'math.copysign', args: [1, 'x'] },
      { name: 'no.such.task' },
    ];
    const results = await enqueueAll(inputs);

    const plain = results.slice(0, 40).map(taskOf);
    expect(plain.map((task) => task.args)).toEqual(Array.from({ length: 40 }, (_, i) => [i]));
    // The same key in one batch: every caller gets the first caller's task.
    const dups = results.slice(40, 44).map(taskOf);
    expect(new Set(dups.map((task) => task.id)).size).toBe(1);
    expect(dups[0]?.args).toEqual(['dup-0']);
    expect(taskOf(results[44])).toEqual(existing);
    expect(results[45]).toEqual({ ok: false, code: 'CONFLICT', field: 'idempotencyKey' });
    expect(taskOf(results[46]).args).toEqual(['first']);
    expect(results[47]).toEqual({ ok: false, code: 'CONFLICT', field: 'idempotencyKey' });
    expect(results[48]).toEqual({ ok: false, code: 'INVALID_ARGUMENTS', field: 'args[1]' });
    expect(results[49]).toEqual({ ok: false, code: 'UNKNOWN_TASK', field: 'name' });

    const created = [...plain, dups[0] as Task, taskOf(results[46])];
    expect(await countTasks(t.app.sql)).toBe(before + created.length);
    expect(await stored(created)).toEqual(created);
    expect(await queue.getTask(existingOther.id)).toEqual(existingOther);
    // Enqueues of one tick share one statement, hence one transaction: those without a key one, those with one another.
    expect(await transactionsOf(plain)).toBe(1);
    expect(await transactionsOf([dups[0] as Task, taskOf(results[46])])).toBe(1);
    expect(await transactionsOf(created)).toBe(2);

    await flushEvents(t.recorder, t.app.sql);
    const events = t.recorder.events;
    const createdIds = new Set(created.map((task) => task.id));
    expect(events.filter((e) => createdIds.has(e.id)).map(({ version, status }) => ({ version, status }))).toEqual(
      created.map(() => ({ version: 1, status: 'PENDING' })),
    );
    expect(events.some((e) => e.id === existing.id || e.id === existingOther.id)).toBe(false);
  });

  it.each(REFUSALS)('fails only the caller whose row the database refuses ($label), when validation let it through', async ({ code, install, remove }) => {
    await t.app.sql.unsafe(install);
    try {
      const before = await countTasks(t.app.sql);
      const inputs: EnqueueInput[] = Array.from({ length: 10 }, (_, i) => ({ name: 'demo.echo', args: [i], queue: i === 3 ? 'forbidden' : 'default' }));
      const results = await enqueueAll(inputs);
      expect(results[3]).toMatchObject({ ok: false, code });
      const ok = results.filter((_, i) => i !== 3).map(taskOf);
      expect(await stored(ok)).toEqual(ok);
      expect(await countTasks(t.app.sql)).toBe(before + 9);
    } finally {
      await t.app.sql.unsafe(remove);
    }
  });

  it('gives every caller of a statement that failed through no row of its own (the disk full) its error, and stores nothing for any of them', async () => {
    await t.app.sql.unsafe(`
      CREATE FUNCTION test_explode() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.queue = 'explode' THEN RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_explode BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION test_explode();`);
    try {
      const before = await countTasks(t.app.sql);
      await flushEvents(t.recorder, t.app.sql);
      t.recorder.events.length = 0;
      const inputs: EnqueueInput[] = Array.from({ length: 10 }, (_, i) => ({ name: 'demo.echo', args: [i], queue: i === 5 ? 'explode' : 'default' }));
      const results = await enqueueAll(inputs);
      expect(results).toEqual(inputs.map(() => ({ ok: false, code: '53100', field: undefined })));
      expect(await countTasks(t.app.sql)).toBe(before);
      await flushEvents(t.recorder, t.app.sql);
      expect(t.recorder.events).toHaveLength(1); // the flush marker only
    } finally {
      await t.app.sql.unsafe('DROP TRIGGER test_explode ON tasks; DROP FUNCTION test_explode()');
    }
  });

  it('keeps an enqueue inside a caller transaction out of the batch: it rolls back alone', async () => {
    const before = await countTasks(t.app.sql);
    let inTx: Task | undefined;
    const others: Promise<Task>[] = [];
    await expect(
      t.app.sql.begin(async (tx) => {
        // Concurrent enqueues outside the transaction commit on their own.
        for (let i = 0; i < 5; i++) others.push(t.app.deps.queue.enqueue({ name: 'demo.echo', args: [i] }));
        inTx = await t.app.deps.queue.enqueue({ name: 'demo.echo', args: ['tx'] }, { tx });
        await Promise.all(others);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    const committed = await Promise.all(others);
    expect(await t.app.deps.queue.getTask(inTx?.id ?? '')).toBeUndefined();
    expect(await stored(committed)).toEqual(committed);
    expect(await countTasks(t.app.sql)).toBe(before + 5);
  });

  it('sends the enqueues that arrive while a statement is in flight together, in the next one', async () => {
    const { queue } = t.app.deps;
    // Holds the first statement in flight: its INSERT waits for this lock.
    const blocker = await t.app.sql.reserve();
    try {
      await blocker`BEGIN`;
      await blocker`LOCK TABLE tasks IN SHARE MODE`;
      // One statement in flight (the batcher's default), waiting for the lock; the rest wait for it.
      const first = queue.enqueue({ name: 'demo.echo', args: ['first'] });
      await insertsWaitingForLock(1);
      const second = queue.enqueue({ name: 'demo.echo', args: ['second'] });
      const rest = Array.from({ length: 20 }, (_, i) => queue.enqueue({ name: 'demo.echo', args: [i] }));
      await blocker`COMMIT`;
      const [a, b, ...others] = await Promise.all([first, second, ...rest]);
      expect([a?.args, b?.args]).toEqual([['first'], ['second']]);
      expect(await transactionsOf([b as Task, ...others])).toBe(1);
      expect(await transactionsOf([a as Task, b as Task, ...others])).toBe(2);
      expect(await stored(others)).toEqual(others);
    } finally {
      blocker.release();
    }
  });
});

describe('enqueue (the batcher) with large arguments', () => {
  it('puts at most BATCH_BYTES of arguments in one statement', async () => {
    const { queue } = t.app.deps;
    // 80 enqueues of ~250 KB (under MAX_ARGS_BYTES) in one tick: ~20 MB, more than one statement holds.
    const big = (i: number): string => `${i}:`.padEnd(250_000, 'x');
    const tasks = await Promise.all(Array.from({ length: 80 }, (_, i) => queue.enqueue({ name: 'demo.echo', args: [big(i)] })));
    expect(await transactionsOf(tasks)).toBeGreaterThanOrEqual(2);
    expect((await stored(tasks)).map((task) => task?.args)).toEqual(tasks.map((_, i) => [big(i)]));
  });
});

describe('enqueueMany (one statement)', () => {
  it('refuses a key repeated with another task name before storing anything', async () => {
    const before = await countTasks(t.app.sql);
    await expect(
      t.app.deps.queue.enqueueMany([
        { name: 'demo.echo', idempotencyKey: 'many-repeat' },
        { name: 'demo.echo' },
        { name: 'demo.sleep', args: [1], idempotencyKey: 'many-repeat' },
      ]),
    ).rejects.toMatchObject({ code: 'CONFLICT', field: '[2].idempotencyKey' });
    expect(await countTasks(t.app.sql)).toBe(before);
  });

  it('stores 500 tasks, keyed and not, as they come back, with one event each', async () => {
    const { queue } = t.app.deps;
    const existing = await queue.enqueue({ name: 'demo.echo', idempotencyKey: 'many-500-existing' });
    const before = await countTasks(t.app.sql);
    await flushEvents(t.recorder, t.app.sql); // the set-up's events are in, and out of the way
    t.recorder.events.length = 0;
    const inputs: EnqueueInput[] = Array.from({ length: 500 }, (_, i) => ({
      name: 'demo.echo',
      args: [i],
      ...(i % 50 === 0 ? { idempotencyKey: `many-500-${i % 100}` } : {}),
      ...(i === 7 ? { idempotencyKey: 'many-500-existing' } : {}),
      ...(i === 9 ? { runAfter: new Date('2030-01-02T03:04:05.678Z'), priority: 5, kwargs: { a: [1] } } : {}),
    }));
    const tasks = await queue.enqueueMany(inputs);
    expect(tasks).toHaveLength(500);
    expect(tasks[7]).toEqual(existing);
    // Keys many-500-0 (rows 0, 100, …) and many-500-50 (rows 50, 150, …): the first row of each wins.
    expect(tasks[100]).toBe(tasks[0]);
    expect(tasks[150]).toBe(tasks[50]);
    const created = tasks.filter((task, i) => i !== 7 && (i % 50 !== 0 || i < 100));
    expect(created).toHaveLength(499 - 8);
    expect(await countTasks(t.app.sql)).toBe(before + created.length);
    expect(await stored(created)).toEqual(created);
    expect(tasks[9]).toMatchObject({ runAfter: new Date('2030-01-02T03:04:05.678Z'), priority: 5, kwargs: { a: [1] } });
    await flushEvents(t.recorder, t.app.sql);
    const ids = new Set(created.map((task) => task.id));
    expect(t.recorder.events.filter((e) => ids.has(e.id))).toHaveLength(created.length);
    expect(t.recorder.events.some((e) => e.id === existing.id)).toBe(false);
  });

  it('stays all or nothing when a concurrent transaction takes a key with another name', async () => {
    const { queue } = t.app.deps;
    const before = await countTasks(t.app.sql);
    let many: Promise<Task[]> | undefined;
    await t.app.sql.begin(async (tx) => {
      await queue.enqueue({ name: 'demo.sleep', args: [1], idempotencyKey: 'many-race' }, { tx });
      // Not visible to the statement's snapshot: only ON CONFLICT, after waiting for us, sees it.
      many = queue.enqueueMany([{ name: 'demo.echo', args: ['fresh'] }, { name: 'demo.echo', idempotencyKey: 'many-race' }]);
      many.catch(() => undefined);
      await insertsWaitingForLock(1);
    });
    await expect(many).rejects.toMatchObject({ code: 'CONFLICT', field: '[1].idempotencyKey' });
    expect(await countTasks(t.app.sql)).toBe(before + 1);
  });

  it('returns the task of a concurrent transaction that took a key with the same name', async () => {
    const { queue } = t.app.deps;
    let many: Promise<Task[]> | undefined;
    let theirs: Task | undefined;
    await t.app.sql.begin(async (tx) => {
      theirs = await queue.enqueue({ name: 'demo.echo', args: ['theirs'], idempotencyKey: 'many-race-same' }, { tx });
      many = queue.enqueueMany([{ name: 'demo.echo', args: ['fresh'] }, { name: 'demo.echo', args: ['ours'], idempotencyKey: 'many-race-same' }]);
      many.catch(() => undefined);
      await insertsWaitingForLock(1);
    });
    const [fresh, keyed] = (await many) as Task[];
    expect(keyed).toEqual(theirs);
    expect(await stored([fresh as Task])).toEqual([fresh]);
  });
});

describe('enqueueMany (small calls share statements)', () => {
  /** Starts every call in the same tick (so they share statements) and settles each one. */
  async function enqueueManyAll(calls: readonly EnqueueInput[][]): Promise<({ ok: true; tasks: Task[] } | { ok: false; code: unknown })[]> {
    const results = await Promise.allSettled(calls.map((inputs) => t.app.deps.queue.enqueueMany(inputs)));
    return results.map((r) => (r.status === 'fulfilled' ? { ok: true, tasks: r.value } : { ok: false, code: (r.reason as { code?: unknown }).code }));
  }
  const call = (c: number, n: number, extra: Partial<EnqueueInput> = {}): EnqueueInput[] =>
    Array.from({ length: n }, (_, i) => ({ name: 'demo.echo', args: [`${c}.${i}`], ...extra }));
  const tasksOf = (r: { ok: boolean; tasks?: Task[] } | undefined): Task[] => {
    if (!r?.ok || !r.tasks) throw new Error(`expected tasks, got ${JSON.stringify(r)}`);
    return r.tasks;
  };

  it('stores 20 concurrent calls in one statement (and single enqueues beside them in another), each call its own tasks in order, one event each', async () => {
    const { queue } = t.app.deps;
    const before = await countTasks(t.app.sql);
    await flushEvents(t.recorder, t.app.sql);
    t.recorder.events.length = 0;
    const calls = Array.from({ length: 20 }, (_, c) => queue.enqueueMany(call(c, 5)));
    const singles = Array.from({ length: 5 }, (_, i) => queue.enqueue({ name: 'demo.echo', args: [`single.${i}`] }));
    const many = await Promise.all(calls);
    const lone = await Promise.all(singles);
    many.forEach((tasks, c) => expect(tasks.map((task) => task.args)).toEqual(call(c, 5).map((input) => input.args)));
    const all = [...many.flat(), ...lone];
    // Each call had been a statement and a commit of its own (20 transactions for these 100 tasks).
    expect(await transactionsOf(many.flat())).toBe(1);
    expect(await transactionsOf(all)).toBe(2);
    expect(await stored(all)).toEqual(all);
    expect(await countTasks(t.app.sql)).toBe(before + 105);
    await flushEvents(t.recorder, t.app.sql);
    const ids = new Set(all.map((task) => task.id));
    expect(t.recorder.events.filter((e) => ids.has(e.id))).toHaveLength(105);
  });

  it.each(REFUSALS)('fails the whole call whose row the database refuses ($label), and only that call', async ({ code, install, remove }) => {
    await t.app.sql.unsafe(install);
    try {
      const before = await countTasks(t.app.sql);
      const calls = Array.from({ length: 6 }, (_, c) => call(c, 4));
      // One bad row in the middle of call 2: its three good rows must not be stored either.
      (calls[2] as EnqueueInput[])[1] = { name: 'demo.echo', args: ['bad'], queue: 'forbidden' };
      const results = await enqueueManyAll(calls);
      expect(results[2]).toEqual({ ok: false, code });
      const ok = results.filter((_, c) => c !== 2).flatMap(tasksOf);
      expect(ok).toHaveLength(20);
      expect(await stored(ok)).toEqual(ok);
      expect(await countTasks(t.app.sql)).toBe(before + 20);
    } finally {
      await t.app.sql.unsafe(remove);
    }
  });

  it('keeps a call with a key, of more than GROUP_MAX tasks or of more than GROUP_MAX_BYTES of arguments in a statement of its own', async () => {
    const { queue } = t.app.deps;
    const small = Array.from({ length: 5 }, (_, c) => queue.enqueueMany(call(c, 3)));
    const keyed = queue.enqueueMany([...call(90, 2), { name: 'demo.echo', idempotencyKey: 'small-call-keyed' }]);
    const large = queue.enqueueMany(call(91, GROUP_MAX + 1));
    // Two tasks of 10,000 characters of arguments: 20 KB in all.
    const heavy = queue.enqueueMany(Array.from({ length: 2 }, (_, i) => ({ name: 'demo.echo', args: [`${i}`.padEnd(10_000, 'x')] })));
    const sizable = queue.enqueueMany(Array.from({ length: 3 }, (_, i) => ({ name: 'demo.echo', args: [`${i}`.padEnd(5_000, 'y')] })));
    const smallTasks = (await Promise.all(small)).flat();
    const [keyedTasks, largeTasks, heavyTasks, sizableTasks] = await Promise.all([keyed, large, heavy, sizable]);
    expect(GROUP_MAX_BYTES).toBeGreaterThan(15_100);
    expect(GROUP_MAX_BYTES).toBeLessThan(20_000);
    // 15 KB: under the bound, it shares the small calls' statement.
    expect(await transactionsOf([...smallTasks, ...sizableTasks])).toBe(1);
    for (const own of [keyedTasks, largeTasks, heavyTasks]) expect(await transactionsOf(own)).toBe(1);
    expect(await transactionsOf([...smallTasks, ...keyedTasks, ...largeTasks, ...heavyTasks])).toBe(4);
    expect(await stored(heavyTasks)).toEqual(heavyTasks);
  });

  it("does not wait behind a keyed enqueue that waits for the caller's own transaction", async () => {
    const { queue } = t.app.deps;
    let theirs: Promise<Task> | undefined;
    let mine: Task[] | undefined;
    let held: Task | undefined;
    await t.app.sql.begin(async (tx) => {
      held = await queue.enqueue({ name: 'demo.echo', args: ['held'], idempotencyKey: 'small-call-held-key' }, { tx });
      // Outside the transaction, the same key: its statement waits for this transaction's end.
      theirs = queue.enqueue({ name: 'demo.echo', args: ['theirs'], idempotencyKey: 'small-call-held-key' });
      await insertsWaitingForLock(1);
      // Had it queued behind that statement, it would wait for this transaction, which waits for
      // it: until lock_timeout (10 s), longer than this test's own timeout.
      mine = await queue.enqueueMany(call(0, 3));
    });
    expect(await theirs).toEqual(held);
    expect(await stored(mine ?? [])).toEqual(mine);
    expect(mine).toHaveLength(3);
  });

  it("does not hold a single enqueue without a key behind a keyed one that waits for the caller's own transaction", async () => {
    const { queue } = t.app.deps;
    let theirs: Promise<Task> | undefined;
    let mine: Task | undefined;
    let held: Task | undefined;
    await t.app.sql.begin(async (tx) => {
      held = await queue.enqueue({ name: 'demo.echo', args: ['held'], idempotencyKey: 'single-held-key' }, { tx });
      theirs = queue.enqueue({ name: 'demo.echo', args: ['theirs'], idempotencyKey: 'single-held-key' });
      await insertsWaitingForLock(1);
      // In the keyed enqueue's statement, or queued behind it, this would wait for this transaction,
      // which waits for it: until lock_timeout (10 s), longer than this test's own timeout.
      mine = await queue.enqueue({ name: 'demo.echo', args: ['mine'] });
    });
    expect(await theirs).toEqual(held);
    expect(await stored(mine ? [mine] : [])).toEqual([mine]);
  });

  it('puts at most 500 rows in a statement and never splits a call', async () => {
    const { queue } = t.app.deps;
    const calls = await Promise.all(Array.from({ length: 8 }, (_, c) => queue.enqueueMany(call(c, GROUP_MAX))));
    for (const tasks of calls) expect(await transactionsOf(tasks)).toBe(1);
    // 800 rows: at least two statements, each of whole calls.
    expect(await transactionsOf(calls.flat())).toBeGreaterThanOrEqual(2);
    expect(await stored(calls.flat())).toEqual(calls.flat());
  });
});

describe('enqueue (inside a caller transaction)', () => {
  it('answers CONFLICT for a taken key and leaves the transaction usable', async () => {
    const { queue } = t.app.deps;
    await queue.enqueue({ name: 'demo.echo', idempotencyKey: 'tx-conflict' });
    const task = await t.app.sql.begin(async (tx) => {
      await expect(queue.enqueue({ name: 'demo.sleep', args: [1], idempotencyKey: 'tx-conflict' }, { tx })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      return queue.enqueue({ name: 'demo.echo', args: ['after'] }, { tx });
    });
    expect(await stored([task])).toEqual([task]);
  });
});
