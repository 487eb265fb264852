import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EnqueueInput } from '../../src/queue/index.js';
import { recordEvents, type EventRecorder } from '../helpers/events.js';
import { countTasks, createQueueTestApp, eventsOf, type QueueTestApp } from '../helpers/factories.js';

/** `value` inside `depth` one-element arrays. */
function nest(depth: number, value: unknown): unknown {
  return depth === 0 ? value : [nest(depth - 1, value)];
}

let app: QueueTestApp;
let recorder: EventRecorder;
beforeAll(async () => {
  app = await createQueueTestApp({ MAX_ARGS_BYTES: '1000' });
});
afterAll(async () => {
  await app.close();
});
beforeEach(async () => {
  recorder = await recordEvents(app.sql);
});
afterEach(async () => {
  await recorder.close();
});

describe('enqueue', () => {
  it('stores a PENDING task at version 1 and announces it once', async () => {
    const task = await app.deps.queue.enqueue({ name: 'math.copysign', args: [1, -1] });
    expect(task).toMatchObject({ name: 'math.copysign', status: 'PENDING', version: 1, attempts: 0, maxAttempts: 1, queue: 'default' });
    expect(task.enqueuedAt).toBeInstanceOf(Date);
    expect(task.runAfter).toBeInstanceOf(Date);
    expect(await eventsOf(recorder, app.sql, task.id)).toEqual([{ version: 1, status: 'PENDING' }]);
    expect(recorder.jobs).toContain('default'); // workers of that queue are woken
  });

  it('applies the caller options over the definition defaults', async () => {
    const runAfter = new Date(Date.now() + 60_000);
    const task = await app.deps.queue.enqueue({
      name: 'demo.echo',
      args: [1, 'two', { three: [3] }],
      kwargs: { k: null },
      queue: 'emails',
      priority: -7,
      maxAttempts: 5,
      runAfter,
      timeoutMs: 1234,
      resultTtlMs: 60_000,
    });
    expect(task).toMatchObject({
      args: [1, 'two', { three: [3] }],
      kwargs: { k: null },
      queue: 'emails',
      priority: -7,
      maxAttempts: 5,
      runAfter,
      timeoutMs: 1234,
      resultTtlMs: 60_000,
    });
    expect(await app.deps.queue.getTask(task.id)).toEqual(task);
  });

  it("takes a backoff setting by setting over the definition's: the ones left out stay the definition's", async () => {
    // demo.fail is defined with { baseMs: 100, maxMs: 2000 }.
    const task = await app.deps.queue.enqueue({ name: 'demo.fail', backoff: { factor: 1, jitter: 0 } });
    expect(task.backoff).toEqual({ baseMs: 100, maxMs: 2000, factor: 1, jitter: 0 });
    expect((await app.deps.queue.getTask(task.id))?.backoff).toEqual(task.backoff);
  });

  it('rejects an unknown task name with UNKNOWN_TASK and writes nothing', async () => {
    const before = await countTasks(app.sql);
    await expect(app.deps.queue.enqueue({ name: 'no.such.task' })).rejects.toMatchObject({ code: 'UNKNOWN_TASK', field: 'name' });
    expect(await countTasks(app.sql)).toBe(before);
  });

  it.each<[string, EnqueueInput, string, string]>([
    ['args failing the schema', { name: 'math.copysign', args: [1, 'x'] }, 'INVALID_ARGUMENTS', 'args[1]'],
    ['too few args', { name: 'math.copysign', args: [1] }, 'INVALID_ARGUMENTS', 'args'],
    ['a BigInt argument', { name: 'demo.echo', args: [1, 2n] }, 'INVALID_ARGUMENTS', 'args[1]'],
    ['a NaN argument', { name: 'demo.echo', args: [Number.NaN] }, 'INVALID_ARGUMENTS', 'args[0]'],
    ['a function argument', { name: 'demo.echo', kwargs: { f: () => 1 } }, 'INVALID_ARGUMENTS', 'kwargs.f'],
    ['a NUL character PostgreSQL cannot store', { name: 'demo.echo', args: ['a\u0000b'] }, 'INVALID_ARGUMENTS', 'args[0]'],
    ['a lone surrogate PostgreSQL cannot store', { name: 'demo.echo', kwargs: { s: '\ud800' } }, 'INVALID_ARGUMENTS', 'kwargs.s'],
    ['a NUL character in a key', { name: 'demo.echo', kwargs: { 'a\u0000': 1 } }, 'INVALID_ARGUMENTS', 'kwargs.a\u0000'],
    ['args that are not an array', { name: 'demo.echo', args: { 0: 1 } as unknown as unknown[] }, 'INVALID_ARGUMENTS', 'args'],
    ['arguments over maxArgsBytes', { name: 'demo.echo', args: ['x'.repeat(1000)] }, 'INVALID_ARGUMENTS', 'args'],
    ['a priority over 100', { name: 'demo.echo', priority: 101 }, 'BAD_USER_INPUT', 'priority'],
    ['a priority under -100', { name: 'demo.echo', priority: -101 }, 'BAD_USER_INPUT', 'priority'],
    ['a fractional priority', { name: 'demo.echo', priority: 1.5 }, 'BAD_USER_INPUT', 'priority'],
    ['maxAttempts 0', { name: 'demo.echo', maxAttempts: 0 }, 'BAD_USER_INPUT', 'maxAttempts'],
    ['a resultTtlMs past 1,000 years, which would expire after any Date', { name: 'demo.echo', resultTtlMs: Number.MAX_SAFE_INTEGER }, 'BAD_USER_INPUT', 'resultTtlMs'],
    ['an invalid runAfter', { name: 'demo.echo', runAfter: new Date('nope') }, 'BAD_USER_INPUT', 'runAfter'],
    ['an empty idempotency key', { name: 'demo.echo', idempotencyKey: '' }, 'BAD_USER_INPUT', 'idempotencyKey'],
    ['an empty queue', { name: 'demo.echo', queue: '' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue named like a cancel notification', { name: 'demo.echo', queue: 'cancel:01900000-0000-7000-8000-000000000000' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue named like a pause notification', { name: 'demo.echo', queue: 'queue-control:paused:default' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue named like a due notice', { name: 'demo.echo', queue: 'due:5:default' }, 'BAD_USER_INPUT', 'queue'],
    // Names no worker's --queues / WORKER_QUEUES (split on commas, trimmed) could select, or that break tables.
    ['a queue with a leading space, apart from the trimmed one', { name: 'demo.echo', queue: ' images' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue with a trailing tab', { name: 'demo.echo', queue: 'images\t' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue of spaces only', { name: 'demo.echo', queue: '  ' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue with a comma', { name: 'demo.echo', queue: 'a,b' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue with a newline inside', { name: 'demo.echo', queue: 'a\nb' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue with an escape sequence', { name: 'demo.echo', queue: 'a\u001b[7mb' }, 'BAD_USER_INPUT', 'queue'],
    ['a queue with a C1 control character', { name: 'demo.echo', queue: 'a\u009bb' }, 'BAD_USER_INPUT', 'queue'],
    ['kwargs that are a Date', { name: 'demo.echo', kwargs: new Date() as unknown as Record<string, unknown> }, 'INVALID_ARGUMENTS', 'kwargs'],
    ['a backoff base that is not a number', { name: 'demo.echo', backoff: { baseMs: '10' as unknown as number } }, 'BAD_USER_INPUT', 'backoff.baseMs'],
    ['a NaN backoff factor', { name: 'demo.echo', backoff: { factor: Number.NaN } }, 'BAD_USER_INPUT', 'backoff.factor'],
    ['a jitter over 1', { name: 'demo.echo', backoff: { jitter: 2 } }, 'BAD_USER_INPUT', 'backoff.jitter'],
    ['an unknown backoff setting', { name: 'demo.echo', backoff: { delay: 5 } as never }, 'BAD_USER_INPUT', 'backoff.delay'],
    ['an array whose toJSON gives a BigInt', { name: 'demo.echo', args: [Object.assign([1], { toJSON: () => 5n })] }, 'INVALID_ARGUMENTS', 'args[0]'],
    ['a NUL character 40 levels deep', { name: 'demo.echo', args: [nest(40, 'a\u0000')] }, 'INVALID_ARGUMENTS', `args[0]${'[0]'.repeat(40)}`],
  ])('rejects %s with a typed error naming the field, and writes nothing', async (_what, input, code, field) => {
    const before = await countTasks(app.sql);
    await expect(app.deps.queue.enqueue(input)).rejects.toMatchObject({ code, field });
    expect(await countTasks(app.sql)).toBe(before);
  });

  it('stores deeply nested plain arguments as they are', async () => {
    const task = await app.deps.queue.enqueue({ name: 'demo.echo', args: [nest(40, 'deep')], kwargs: { a: { b: [null, true, 1.5] } } });
    expect(task.args).toEqual([nest(40, 'deep')]);
    expect(await app.deps.queue.getTask(task.id)).toEqual(task);
  });

  it('rejects cyclic arguments with INVALID_ARGUMENTS naming the path of the cycle', async () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const before = await countTasks(app.sql);
    await expect(app.deps.queue.enqueue({ name: 'demo.echo', args: [cyclic] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENTS',
      field: 'args[0].self',
    });
    expect(await countTasks(app.sql)).toBe(before);
  });

  it('rejects arguments whose toJSON throws with INVALID_ARGUMENTS', async () => {
    const before = await countTasks(app.sql);
    const hostile = {
      toJSON() {
        throw new Error('nope');
      },
    };
    await expect(app.deps.queue.enqueue({ name: 'demo.echo', args: [hostile] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENTS' });
    expect(await countTasks(app.sql)).toBe(before);
  });
});

describe('enqueueMany', () => {
  it('stores every task in input order with one event each', async () => {
    const tasks = await app.deps.queue.enqueueMany([
      { name: 'math.copysign', args: [1, 2] },
      { name: 'demo.echo', queue: 'other' },
      { name: 'demo.sleep', args: [0], idempotencyKey: 'many-1', backoff: { baseMs: 5 }, kwargs: { b: 1, a: [true] } },
    ]);
    expect(tasks.map((t) => t.name)).toEqual(['math.copysign', 'demo.echo', 'demo.sleep']);
    for (const t of tasks) expect(await eventsOf(recorder, app.sql, t.id)).toEqual([{ version: 1, status: 'PENDING' }]);
    // The returned tasks are built from the inputs plus what the INSERT returned: same as stored.
    for (const t of tasks) expect(await app.deps.queue.getTask(t.id)).toEqual(t);
    expect(recorder.jobs).toEqual(expect.arrayContaining(['default', 'other']));
  });

  it('writes nothing when one input is bad, and names it by index', async () => {
    const before = await countTasks(app.sql);
    await expect(
      app.deps.queue.enqueueMany([
        { name: 'demo.echo' },
        { name: 'math.copysign', args: [1, 'x'] },
      ]),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENTS', field: '[1].args[1]' });
    expect(await countTasks(app.sql)).toBe(before);
  });

  it('writes nothing when one idempotency key belongs to a task of another name', async () => {
    await app.deps.queue.enqueue({ name: 'demo.echo', idempotencyKey: 'many-conflict' });
    const before = await countTasks(app.sql);
    await expect(
      app.deps.queue.enqueueMany([
        { name: 'demo.echo', idempotencyKey: 'many-fresh' },
        { name: 'demo.sleep', args: [1], idempotencyKey: 'many-conflict' },
      ]),
    ).rejects.toMatchObject({ code: 'CONFLICT', field: '[1].idempotencyKey' });
    expect(await countTasks(app.sql)).toBe(before);
  });
});

describe('idempotencyKey', () => {
  it('returns the first task for the same key, with no second row and no second event', async () => {
    const first = await app.deps.queue.enqueue({ name: 'demo.echo', args: [1], idempotencyKey: 'order-1' });
    const before = await countTasks(app.sql);
    const second = await app.deps.queue.enqueue({ name: 'demo.echo', args: [2], idempotencyKey: 'order-1' });
    expect(second).toEqual(first);
    expect(await countTasks(app.sql)).toBe(before);
    expect(await eventsOf(recorder, app.sql, first.id)).toEqual([{ version: 1, status: 'PENDING' }]);
  });

  it('tells a replay by checkExisting, in the caller\'s transaction or not: what it throws rolls that transaction back', async () => {
    const seen: string[] = [];
    const check = (task: { id: string }): void => void seen.push(task.id);
    const first = await app.deps.queue.enqueue({ name: 'demo.echo', idempotencyKey: 'replay-1' }, { checkExisting: check });
    expect(seen).toEqual([]);
    expect((await app.deps.queue.enqueue({ name: 'demo.echo', idempotencyKey: 'replay-1' }, { checkExisting: check })).id).toBe(first.id);
    expect(seen).toEqual([first.id]);
    // An endpoint writing its own row beside the enqueue: a request sent twice writes it once.
    await app.sql`CREATE TABLE IF NOT EXISTS replay_orders (request text)`;
    const order = (request: string) =>
      app.sql.begin(async (tx) => {
        await tx`INSERT INTO replay_orders VALUES (${request})`;
        await app.deps.queue.enqueue({ name: 'demo.echo', idempotencyKey: request }, {
          tx,
          checkExisting: () => {
            throw new Error('replayed');
          },
        });
      });
    await order('req-7');
    await expect(order('req-7')).rejects.toThrow('replayed');
    expect((await app.sql`SELECT count(*)::int AS n FROM replay_orders WHERE request = 'req-7'`)[0]?.n).toBe(1);
  });

  it('gives every concurrent enqueue with one key the same single task', async () => {
    const before = await countTasks(app.sql);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => app.deps.queue.enqueue({ name: 'demo.echo', args: [i], idempotencyKey: 'race-1' })),
    );
    expect(new Set(results.map((t) => t.id)).size).toBe(1);
    expect(await countTasks(app.sql)).toBe(before + 1);
    expect(await eventsOf(recorder, app.sql, results[0]?.id ?? '')).toEqual([{ version: 1, status: 'PENDING' }]);
  });

  it('gives repeated keys inside one batch the same task', async () => {
    const [a, b] = await app.deps.queue.enqueueMany([
      { name: 'demo.echo', args: ['a'], idempotencyKey: 'batch-dup' },
      { name: 'demo.echo', args: ['b'], idempotencyKey: 'batch-dup' },
    ]);
    expect(b?.id).toBe(a?.id);
  });

  it('answers CONFLICT when the key belongs to a task of another name, and writes nothing', async () => {
    await app.deps.queue.enqueue({ name: 'demo.echo', idempotencyKey: 'shared-key' });
    const before = await countTasks(app.sql);
    await expect(app.deps.queue.enqueue({ name: 'demo.sleep', args: [1], idempotencyKey: 'shared-key' })).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'idempotencyKey',
    });
    expect(await countTasks(app.sql)).toBe(before);
  });
});

describe('getTask', () => {
  it('answers undefined for an unknown id and for a string that is not a UUID', async () => {
    expect(await app.deps.queue.getTask('0190a000-0000-7000-8000-000000000000')).toBeUndefined();
    expect(await app.deps.queue.getTask('not-a-uuid')).toBeUndefined();
  });

  it('returns tasks by id, leaving absent ones out', async () => {
    const t = await app.deps.queue.enqueue({ name: 'demo.echo' });
    expect((await app.deps.queue.getTasks([t.id, '0190a000-0000-7000-8000-000000000000', 'junk'])).map((x) => x.id)).toEqual([t.id]);
  });
});

describe('enqueue queue names', () => {
  it('stores a queue name with inner spaces and non-ASCII letters as it is', async () => {
    const task = await app.deps.queue.enqueue({ name: 'demo.echo', queue: 'bilder größe 2' });
    expect(task.queue).toBe('bilder größe 2');
  });

  it('refuses a bad queue in a workflow step and in a schedule with the step\'s and the schedule\'s field', async () => {
    await expect(
      app.deps.queue.workflows.enqueue({ steps: [{ ref: 'a', task: { name: 'demo.echo', queue: 'a,b' } }] }),
    ).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'steps[0].task.queue' });
    await expect(
      app.deps.queue.schedules.upsert({ key: 'bad-queue', cron: '0 3 * * *', task: { name: 'demo.echo', queue: 'x\n' } }),
    ).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'task.queue' });
  });
});

describe('defineTask', () => {
  it.each([' images', 'a,b', 'a\u0007b', 'cancel:x'])('refuses the queue %j where the task is defined', async (queue) => {
    const { defineTask } = await import('../../src/worker/define-task.js');
    expect(() => defineTask({ name: 'bad.queue', queue, run: () => null })).toThrow(
      expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'bad.queue: queue' }),
    );
  });

  it('refuses a backoff that could not be stored and read back, where the task is defined', async () => {
    const { defineTask } = await import('../../src/worker/define-task.js');
    expect(() => defineTask({ name: 'bad.backoff', backoff: { baseMs: -1 }, run: () => null })).toThrow(
      expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'bad.backoff: backoff.baseMs' }),
    );
  });
});
