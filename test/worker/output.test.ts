import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Task } from '../../src/queue/task.js';
import { defineTask } from '../../src/worker/define-task.js';
import { silentLogger } from '../../src/logger.js';
import { createOutputWriter, MAX_OUTPUT_CHUNK_BYTES } from '../../src/worker/output-writer.js';
import type { Runner } from '../../src/worker/runner.js';
import { createQueueTestApp, insertTask, waitForStatus, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';
import { captureLog } from '../helpers/log-capture.js';
import { refusedWrites } from '../helpers/refused-writes.js';
import { databaseThroughProxy } from '../helpers/tcp-proxy.js';
import { JsonEncodeError } from '../../src/index.js';

/** A JSON string chunk of exactly `bytes` bytes of JSON (its quotes included). */
const sized = (bytes: number, char = 'a'): string => char.repeat(bytes - 2);

/** Gates `test.output-gated` waits on between its two chunks, by task id. */
const gates = new Map<string, () => void>();

const outputTasks = [
  // Writes `count` chunks of `bytes` bytes each, without awaiting them.
  defineTask({
    name: 'test.output-sized',
    args: z.tuple([z.number().int(), z.number().int().min(2)]),
    run: ([count, bytes], ctx) => {
      for (let i = 0; i < count; i++) void ctx.output(sized(bytes));
      return count;
    },
  }),
  // Writes 40 chunks {i}, awaiting only every third one.
  defineTask({
    name: 'test.output-mixed',
    run: async (_args, ctx) => {
      for (let i = 1; i <= 40; i++) {
        const stored = ctx.output({ i });
        if (i % 3 === 0) await stored;
      }
      return null;
    },
  }),
  // Tries a chunk over the limit; 'catch' reports the error's code and goes on, 'throw' lets it fail the attempt.
  defineTask({
    name: 'test.output-too-large',
    args: z.tuple([z.enum(['catch', 'throw'])]),
    run: async ([mode], ctx) => {
      await ctx.output('small, before');
      try {
        await ctx.output(sized(MAX_OUTPUT_CHUNK_BYTES + 1));
      } catch (error) {
        if (mode === 'throw') throw error;
        await ctx.output('small, after');
        return { code: (error as { code?: string }).code };
      }
      return { code: null };
    },
  }),
  // Tries the truncation marker itself, built key by key, and a chunk that only looks like it; reports the refusal's code.
  defineTask({
    name: 'test.output-forged-marker',
    run: async (_args, ctx) => {
      const forged: Record<string, unknown> = {};
      forged['truncated'] = true;
      let code: string | undefined;
      try {
        await ctx.output(forged);
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      await ctx.output({ truncated: true, reason: 'mine' });
      await ctx.output({ truncated: 'true' });
      return { code };
    },
  }),
  // Each attempt writes `count` chunks of `bytes` bytes made of its attempt number; the first attempt then fails.
  defineTask({
    name: 'test.output-retried',
    args: z.tuple([z.number().int(), z.number().int().min(2)]),
    backoff: { baseMs: 10, maxMs: 10, jitter: 0 },
    run: async ([count, bytes], ctx) => {
      for (let i = 0; i < count; i++) void ctx.output(sized(bytes, String(ctx.attempt)));
      if (ctx.attempt === 1) throw new Error('first attempt fails');
      return ctx.attempt;
    },
  }),
  // Streams awaited chunks of `bytes` until ctx.outputEnded says no more are taken (at most 1,000);
  // returns how many it wrote and what outputEnded said first. The first attempt fails after it.
  defineTask({
    name: 'test.output-until-ended',
    args: z.tuple([z.number().int().min(2)]),
    backoff: { baseMs: 10, maxMs: 10, jitter: 0 },
    run: async ([bytes], ctx) => {
      const endedAtStart = ctx.outputEnded;
      let written = 0;
      while (!ctx.outputEnded && written < 1000) {
        await ctx.output(sized(bytes));
        written += 1;
      }
      if (ctx.attempt === 1) throw new Error(JSON.stringify({ endedAtStart, written }));
      return { endedAtStart, written };
    },
  }),
  // Writes 'before', waits for the test, writes 'after'.
  defineTask({
    name: 'test.output-gated',
    run: async (_args, ctx) => {
      await ctx.output('before');
      await new Promise<void>((resolve) => gates.set(ctx.taskId, resolve));
      await ctx.output('after');
      return null;
    },
  }),
];

let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp({}, outputTasks);
});
afterEach(async () => {
  for (const open of gates.values()) open();
  gates.clear();
  await app.stopRunners();
});
afterAll(async () => {
  await app?.close();
});

interface LoggedEvent {
  version: number;
  type: string;
  attempt: number;
  output: unknown;
}

async function eventLog(id: string): Promise<LoggedEvent[]> {
  const rows = await app.sql`SELECT version, type, attempt, output FROM task_events WHERE task_id = ${id} ORDER BY version`;
  return rows.map((r) => ({ version: Number(r.version), type: String(r.type), attempt: Number(r.attempt), output: r.output }));
}

async function outputOf(id: string): Promise<unknown[]> {
  const rows = await app.sql`SELECT version, output FROM task_events WHERE task_id = ${id} AND type = 'OUTPUT' ORDER BY version`;
  return rows.map((r) => r.output);
}

/** Resolves when `runner` has recorded the outcome of `task`'s attempt. */
function finished(runner: Runner, task: Task): Promise<string> {
  return new Promise((resolve) => {
    const onFinished = (t: Task, outcome: string): void => {
      if (t.id !== task.id) return;
      runner.off('finished', onFinished);
      resolve(outcome);
    };
    runner.on('finished', onFinished);
  });
}

describe('ctx.output', () => {
  it('stores demo.output chunks in order as OUTPUT events, all before the SUCCEEDED event', async () => {
    const task = await app.deps.queue.enqueue({ name: 'demo.output', args: [25, 0] });
    await app.runner().start();
    const done = await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    expect(done.returnValue).toEqual({ count: 25 });
    const log = await eventLog(task.id);
    expect(log.map((e) => e.version)).toEqual(log.map((_, i) => i + 1));
    expect(log.map((e) => e.type)).toEqual(['ENQUEUED', 'STARTED', ...Array.from({ length: 25 }, () => 'OUTPUT'), 'SUCCEEDED']);
    expect(log.filter((e) => e.type === 'OUTPUT').map((e) => e.output)).toEqual(
      Array.from({ length: 25 }, (_, k) => ({ i: k + 1, text: `chunk ${k + 1} of 25` })),
    );
    expect(log.filter((e) => e.type === 'OUTPUT').every((e) => e.attempt === 1)).toBe(true);
  });

  it('keeps the order whether the handler awaits its chunks or not', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.output-mixed' });
    await app.runner().start();
    await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    expect(await outputOf(task.id)).toEqual(Array.from({ length: 40 }, (_, k) => ({ i: k + 1 })));
  });

  it('writes the chunks of several running tasks in few statements', async () => {
    const tasks = await app.deps.queue.enqueueMany(Array.from({ length: 4 }, () => ({ name: 'test.output-sized', args: [100, 20] })));
    await app.runner({ concurrency: 4 }).start();
    for (const t of tasks) await waitForStatus(app.deps, t.id, 'SUCCEEDED');
    const ids = tasks.map((t) => t.id);
    const [row] = await app.sql`
      SELECT count(*)::int AS chunks, count(DISTINCT tx)::int AS statements
      FROM task_events WHERE task_id = ANY(${ids}::uuid[]) AND type = 'OUTPUT'`;
    expect(row?.chunks).toBe(400);
    // Each handler writes its 100 chunks in one tick: one statement at most per task, fewer when they share.
    expect(row?.statements).toBeLessThanOrEqual(4);
  });

  it('stores a steady stream in at most one statement per flush interval, every chunk in order', async () => {
    // A day's lease: the lease test below rescues every task whose lease ends within the hour.
    const task = await insertTask(app.sql, { status: 'RUNNING', workerId: 'paced-writer', leaseMs: 86_400_000 });
    const intervalMs = 100;
    const writer = createOutputWriter({ sql: app.sql, workerId: 'paced-writer', log: silentLogger, maxOutputBytes: 1_000_000, retryForMs: 1000, flushIntervalMs: intervalMs });
    const output = writer.forAttempt(task);
    const started = performance.now();
    // A chunk about every millisecond for 300 ms, as a token stream would write them.
    let i = 0;
    while (performance.now() - started < 300) {
      void output.write({ i: ++i });
      await delay(1);
    }
    await output.close();
    const closed = performance.now();
    expect(await outputOf(task.id)).toEqual(Array.from({ length: i }, (_, k) => ({ i: k + 1 })));
    const [row] = await app.sql`SELECT count(DISTINCT tx)::int AS statements FROM task_events WHERE task_id = ${task.id} AND type = 'OUTPUT'`;
    // One statement per round trip would be dozens here. Spaced, the statements start at least
    // the interval apart, and the one the close hurries may follow the last sooner.
    expect(row?.statements).toBeLessThanOrEqual(Math.floor((closed - started) / intervalMs) + 2);
  });

  it('puts at most BATCH_BYTES of chunks in one statement, every chunk in order', async () => {
    const task = await insertTask(app.sql, { status: 'RUNNING', workerId: 'big-writer', leaseMs: 86_400_000 });
    const writer = createOutputWriter({ sql: app.sql, workerId: 'big-writer', log: silentLogger, maxOutputBytes: 100_000_000, retryForMs: 1000 });
    const output = writer.forAttempt(task);
    // 300 chunks of ~60 KB in one tick: ~18 MB, one batch without the cap.
    const chunk = (i: number): string => `${i}:`.padEnd(60_000, 'y');
    const writes = Array.from({ length: 300 }, (_, i) => output.write(chunk(i)));
    await Promise.all(writes);
    await output.close();
    expect(await outputOf(task.id)).toEqual(Array.from({ length: 300 }, (_, i) => chunk(i)));
    const [row] = await app.sql`SELECT count(DISTINCT tx)::int AS statements FROM task_events WHERE task_id = ${task.id} AND type = 'OUTPUT'`;
    expect(row?.statements).toBeGreaterThanOrEqual(2);
  });

  it('stores an ending attempt\'s last chunks at once, without waiting out the flush interval', async () => {
    const task = await insertTask(app.sql, { status: 'RUNNING', workerId: 'slow-writer', leaseMs: 86_400_000 });
    const writer = createOutputWriter({ sql: app.sql, workerId: 'slow-writer', log: silentLogger, maxOutputBytes: 1_000_000, retryForMs: 1000, flushIntervalMs: 600_000 });
    const output = writer.forAttempt(task);
    await output.write('first'); // idle before: stored at once
    void output.write('last'); // held for the interval (10 minutes), unless the attempt ends
    const closing = performance.now();
    await output.close();
    expect(performance.now() - closing).toBeLessThan(30_000);
    expect(await outputOf(task.id)).toEqual(['first', 'last']);
  });

  it('refuses a chunk that is not JSON at the call, with the package\'s JsonEncodeError naming its path, storing nothing', async () => {
    const task = await insertTask(app.sql, { status: 'RUNNING', workerId: 'json-writer', leaseMs: 86_400_000 });
    const output = createOutputWriter({ sql: app.sql, workerId: 'json-writer', log: silentLogger, maxOutputBytes: 1_000_000, retryForMs: 1000 }).forAttempt(task);
    for (const [chunk, path] of [[{ n: 10n }, 'output.n'], [['a\u0000'], 'output[0]']] as const) {
      let thrown: unknown;
      try {
        void output.write(chunk);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(JsonEncodeError);
      expect((thrown as JsonEncodeError).path).toBe(path);
    }
    await output.write('after');
    await output.close();
    expect(await outputOf(task.id)).toEqual(['after']);
  });

  it('stores a batch once when its statement committed but the answer was lost with the connection (the retry appends nothing twice)', async () => {
    const task = await insertTask(app.sql, { status: 'RUNNING', workerId: 'cut-writer', leaseMs: 86_400_000 });
    const { proxy, db } = await databaseThroughProxy(app.database.url, 1);
    const { log, lines } = captureLog();
    try {
      const writer = createOutputWriter({ sql: db.sql, workerId: 'cut-writer', log, maxOutputBytes: 1_000_000, retryForMs: 30_000, flushIntervalMs: 0 });
      const output = writer.forAttempt(task);
      for (let i = 1; i <= 3; i++) await output.write({ i });
      // PostgreSQL runs and commits the next statement, and its answer never comes back.
      proxy.dropAnswers();
      const fourth = output.write({ i: 4 });
      await waitFor(async () => (await outputOf(task.id)).length === 4, { message: 'the fourth chunk committed' });
      proxy.cut();
      proxy.reopen();
      await fourth;
      expect(lines.some((l) => l.msg === 'storing output failed; retrying')).toBe(true);
      await output.write({ i: 5 });
      await output.close();
      expect(await outputOf(task.id)).toEqual([1, 2, 3, 4, 5].map((i) => ({ i })));
      const [row] = await app.sql`SELECT version, output_bytes FROM tasks WHERE id = ${task.id}`;
      expect(row).toMatchObject({ version: 2 + 5, outputBytes: 5 * '{"i":1}'.length });
    } finally {
      await db.close();
      await proxy.close();
    }
  });

  it('ends an attempt\'s output at a batch given up for good: the chunks queued behind it are dropped too, never stored after a gap', async () => {
    const task = await insertTask(app.sql, { status: 'RUNNING', workerId: 'gap-writer', leaseMs: 86_400_000 });
    // The database refuses output for a while as if it were away (a full disk, a restart): past
    // retryForMs the batch is given up, and the database takes writes again just after.
    const refused = await refusedWrites(app.sql, { name: 'output', table: 'task_events', event: 'INSERT', when: `NEW.type = 'OUTPUT'`, sqlState: '57P03' });
    const { log, lines } = captureLog();
    try {
      const writer = createOutputWriter({ sql: app.sql, workerId: 'gap-writer', log, maxOutputBytes: 1_000_000, retryForMs: 300, flushIntervalMs: 0 });
      const output = writer.forAttempt(task);
      await output.write({ i: 1 });
      await refused.block();
      const second = output.write({ i: 2 });
      await waitFor(() => lines.some((l) => l.msg === 'storing output failed; retrying'), { message: 'the second chunk refused' });
      // Written while the second chunk's statement is being retried: it waits for the next statement.
      const third = output.write({ i: 3 });
      await expect(second).rejects.toMatchObject({ code: '57P03' });
      await refused.unblock();
      await third;
      await output.write({ i: 4 });
      await output.close();
      expect(await outputOf(task.id)).toEqual([{ i: 1 }]);
      expect(lines.filter((l) => l.msg === "could not store output; the rest of this attempt's output is dropped")).toHaveLength(1);
    } finally {
      await refused.drop();
    }
  });

  it('truncates at MAX_OUTPUT_BYTES with exactly one marker and drops what follows', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.output-sized', args: [15, 10] });
    await app.runner({ maxOutputBytes: 100 }).start();
    const done = await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    expect(done.returnValue).toBe(15);
    // Ten chunks fill the 100 bytes exactly; the eleventh would go over.
    expect(await outputOf(task.id)).toEqual([...Array.from({ length: 10 }, () => sized(10)), { truncated: true }]);
    const [row] = await app.sql`SELECT output_bytes FROM tasks WHERE id = ${task.id}`;
    expect(row?.outputBytes).toBe(100);
  });

  it('ctx.outputEnded turns true once the cap is reached, so a streaming handler can stop; an attempt after the cap sees it at once', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.output-until-ended', args: [10], maxAttempts: 2 });
    await app.runner({ maxOutputBytes: 100 }).start();
    const done = await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    // Ten chunks fill the 100 bytes; the eleventh becomes the marker and ends the output.
    expect(JSON.parse(done.errors[0]?.message ?? 'null')).toEqual({ endedAtStart: false, written: 11 });
    // The second attempt: the task's output is capped already, and the handler knows before writing.
    expect(done.returnValue).toEqual({ endedAtStart: true, written: 0 });
    expect(await outputOf(task.id)).toEqual([...Array.from({ length: 10 }, () => sized(10)), { truncated: true }]);
  });

  it('refuses a chunk over 64 KiB with a typed error at the call, storing nothing of it', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.output-too-large', args: ['catch'] });
    await app.runner().start();
    const done = await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    expect(done.returnValue).toEqual({ code: 'OUTPUT_CHUNK_TOO_LARGE' });
    expect(await outputOf(task.id)).toEqual(['small, before', 'small, after']);
  });

  it('fails the attempt of a handler that lets the refusal through', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.output-too-large', args: ['throw'] });
    await app.runner().start();
    const failed = await waitForStatus(app.deps, task.id, 'FAILED');
    expect(failed.errors.map((e) => e.exceptionType)).toEqual(['OutputChunkTooLargeError']);
    expect(await outputOf(task.id)).toEqual(['small, before']);
  });

  it('refuses a chunk equal to the truncation marker, so the marker in the log is always the cap\'s', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.output-forged-marker' });
    await app.runner().start();
    const done = await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    expect(done.returnValue).toEqual({ code: 'OUTPUT_CHUNK_RESERVED' });
    expect(await outputOf(task.id)).toEqual([{ truncated: true, reason: 'mine' }, { truncated: 'true' }]);
  });

  it('keeps the output of both attempts of a retried task, the cap counting both', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.output-retried', args: [6, 10], maxAttempts: 2 });
    await app.runner({ maxOutputBytes: 100 }).start();
    await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    const log = await eventLog(task.id);
    expect(log.map((e) => e.type)).toEqual([
      'ENQUEUED',
      'STARTED',
      ...Array.from({ length: 6 }, () => 'OUTPUT'),
      'RETRY_SCHEDULED',
      'STARTED',
      ...Array.from({ length: 5 }, () => 'OUTPUT'),
      'SUCCEEDED',
    ]);
    const output = log.filter((e) => e.type === 'OUTPUT');
    // 60 bytes in the first attempt leave 40 for the second: four chunks, then the marker.
    expect(output.map((e) => [e.attempt, e.output])).toEqual([
      ...Array.from({ length: 6 }, () => [1, sized(10, '1')]),
      ...Array.from({ length: 4 }, () => [2, sized(10, '2')]),
      [2, { truncated: true }],
    ]);
  });

  it('writes one truncation marker over all attempts: an attempt after the cap was reached writes nothing', async () => {
    // 15 chunks of 10 bytes pass the 100-byte cap in the first attempt; the second writes none.
    const task = await app.deps.queue.enqueue({ name: 'test.output-retried', args: [15, 10], maxAttempts: 2 });
    await app.runner({ maxOutputBytes: 95 }).start();
    await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    const output = (await eventLog(task.id)).filter((e) => e.type === 'OUTPUT');
    expect(output.filter((e) => (e.output as { truncated?: boolean }).truncated)).toHaveLength(1);
    expect(output.every((e) => e.attempt === 1)).toBe(true);
    const [row] = await app.sql`SELECT output_bytes FROM tasks WHERE id = ${task.id}`;
    expect(row?.outputBytes).toBe(95);
  });

  it('drops the output of an attempt that lost its lease', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.output-gated' });
    const runner = app.runner();
    const ended = finished(runner, task);
    await runner.start();
    await waitFor(() => gates.has(task.id), { message: 'the handler to wait at its gate' });
    // The lease taken away while the handler waits (the rescuer, as if it had expired): the task
    // is FAILED, and the attempt's next chunk must not be added to its log.
    const rescued = await app.deps.rescuer.runOnce(new Date(Date.now() + 3_600_000));
    expect(rescued.map((t) => t.id)).toEqual([task.id]);
    gates.get(task.id)?.();
    await ended;
    expect(await outputOf(task.id)).toEqual(['before']);
    expect((await app.deps.queue.getTask(task.id))?.status).toBe('FAILED');
  });
});
