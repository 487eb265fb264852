import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import type { Task } from '../../src/queue/task.js';
import type { Outcome } from '../../src/worker/execute-task.js';
import { createOutcomeStore } from '../../src/worker/outcome-store.js';
import { BATCH_BYTES } from '../../src/queue/micro-batcher.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';
import { captureLog } from '../helpers/log-capture.js';
import { refusedWrites } from '../helpers/refused-writes.js';
import { databaseThroughProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

// An outcome whose statement committed while its answer was lost with the connection: the store
// retries, the retry's guard finds the attempt already ended, and the store must still say the
// outcome was written — by that first try — so that the runner's `finished` event, its log line
// and the metrics report what the database holds, not a lost attempt.
const env = useQueueTestApp();
const WORKER = 'w-lost-answer';

/**
 * Records `outcome` of `task` through a connection whose answers are dropped once the write is sent,
 * then cut. The same outcome of `warmUp` goes first, so that the connection has prepared the statement
 * (a statement new to it waits for its description before it runs: nothing would commit).
 */
async function recordAcrossLostAnswer(
  warmUp: Task,
  task: Task,
  outcome: Outcome,
  committed: (status: string) => boolean,
  /** What happens after the commit and before the connection is cut (and the store tries again). */
  meanwhile: () => Promise<void> = async () => undefined,
): Promise<{ written: boolean; lines: ReturnType<typeof captureLog>['lines'] }> {
  const { proxy, db } = await databaseThroughProxy(env.app.database.url, 1);
  const { log, lines } = captureLog();
  try {
    const store = createOutcomeStore({ sql: db.sql, registry: env.app.deps.registry, workerId: WORKER, log, resultTtlMs: 60_000, retryForMs: 30_000 });
    expect(await store.record(warmUp, outcome)).toBe(true);
    proxy.dropAnswers();
    const recording = store.record(task, outcome);
    await waitFor(async () => {
      const [row] = await env.app.sql`SELECT status FROM tasks WHERE id = ${task.id}`;
      return committed(String(row?.status));
    }, { message: 'the outcome committed' });
    await meanwhile();
    proxy.cut();
    proxy.reopen();
    const written = await recording;
    expect(lines.some((l) => l.msg === 'recording the outcome failed; retrying')).toBe(true);
    return { written, lines };
  } finally {
    await db.close();
    await proxy.close();
  }
}

describe('the outcome store across a lost answer', () => {
  it('reports a success written by a try whose answer was lost as written', async () => {
    const warmUp = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-answer' });
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-answer' });
    const { written, lines } = await recordAcrossLostAnswer(warmUp, task, { kind: 'succeeded', returnValue: '42' }, (s) => s === 'SUCCEEDED');
    expect(written).toBe(true);
    expect(lines.some((l) => l.msg === 'the outcome was stored by a try whose answer was lost')).toBe(true);
    const [row] = await env.app.sql`SELECT status, return_value_json AS return_value, version FROM tasks WHERE id = ${task.id}`;
    expect(row).toMatchObject({ status: 'SUCCEEDED', returnValue: 42, version: 3 });
  });

  it('reports a failure written by a try whose answer was lost as written, its error stored once', async () => {
    const warmUp = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-answer', maxAttempts: 3 });
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-answer', maxAttempts: 3 });
    const failure = (message: string): Outcome => ({ kind: 'failed', error: { exceptionType: 'Error', message, traceback: null }, retryable: false });
    const { written } = await recordAcrossLostAnswer(warmUp, task, failure('down'), (s) => s === 'FAILED');
    expect(written).toBe(true);
    const [row] = await env.app.sql`SELECT status, jsonb_array_length(errors) AS errors, version FROM tasks WHERE id = ${task.id}`;
    expect(row).toMatchObject({ status: 'FAILED', errors: 1, version: 3 });
  });

  it('reports a failure written by a try whose answer was lost as written though the next attempt has started since', async () => {
    const fast = { baseMs: 10, maxMs: 20, factor: 1, jitter: 0 };
    const warmUp = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-warm', maxAttempts: 3, backoff: fast });
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-next', maxAttempts: 3, backoff: fast });
    const outcome: Outcome = { kind: 'failed', error: { exceptionType: 'Error', message: 'down', traceback: null }, retryable: true };
    const { written } = await recordAcrossLostAnswer(warmUp, task, outcome, (s) => s === 'RETRYING', async () => {
      await waitFor(async () => (await claimTasks(env.app.sql, { workerId: 'w-next', limit: 1, queues: ['lost-next'], leaseMs: 60_000 })).length > 0, {
        message: 'the retry claimed by another worker',
      });
    });
    expect(written).toBe(true);
    const [row] = await env.app.sql`SELECT status, attempts, jsonb_array_length(errors) AS errors, locked_by FROM tasks WHERE id = ${task.id}`;
    expect(row).toMatchObject({ status: 'RUNNING', attempts: 2, errors: 1, lockedBy: 'w-next' });
  });

  it('does not snooze the run after: a snooze whose answer was lost, the task claimed again by the same worker, is not applied again', async () => {
    const warmUp = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-warm' });
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-snooze' });
    let rerun: Task | undefined;
    const { written } = await recordAcrossLostAnswer(warmUp, task, { kind: 'snoozed', delayMs: 0 }, (s) => s === 'PENDING', async () => {
      // The same worker claims it again: a snooze gives its attempt back, so the new run is attempt 1 too.
      await waitFor(async () => {
        [rerun] = await claimTasks(env.app.sql, { workerId: WORKER, limit: 1, queues: ['lost-snooze'], leaseMs: 60_000 });
        return rerun !== undefined;
      }, { message: 'the snoozed task claimed again' });
      expect(rerun).toMatchObject({ id: task.id, attempts: 1 });
    });
    expect(written).toBe(true);
    const [row] = await env.app.sql`SELECT status, attempts, version, locked_by FROM tasks WHERE id = ${task.id}`;
    expect(row).toMatchObject({ status: 'RUNNING', attempts: 1, version: rerun!.version, lockedBy: WORKER });
    const events = await env.app.sql`SELECT type FROM task_events WHERE task_id = ${task.id} ORDER BY version`;
    expect(events.map((e) => e.type)).toEqual(['ENQUEUED', 'STARTED', 'SNOOZED', 'STARTED']);
  });

  it('gives up a write whose connection stopped answering and records on another (the first try committed)', async () => {
    const warmUp = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'lost-warm' });
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'hung' });
    const { proxy, db } = await databaseThroughProxy(env.app.database.url, 2);
    const { log, lines } = captureLog();
    try {
      const store = createOutcomeStore({ sql: db.sql, registry: env.app.deps.registry, workerId: WORKER, log, resultTtlMs: 60_000, retryForMs: 30_000, writeTimeoutMs: 300 });
      expect(await store.record(warmUp, { kind: 'succeeded', returnValue: '1' })).toBe(true);
      // The connection open now goes quiet (half-open): it takes statements and runs them, and nothing comes back.
      proxy.dropAnswers();
      const written = await store.record(task, { kind: 'succeeded', returnValue: '2' });
      expect(written).toBe(true);
      expect(lines.some((l) => l.msg === 'recording the outcome failed; retrying' && (l as { err?: { code?: string } }).err?.code === 'WRITE_TIMEOUT')).toBe(true);
      expect(lines.some((l) => l.msg === 'the outcome was stored by a try whose answer was lost')).toBe(true);
      const [row] = await env.app.sql`SELECT status, return_value_json AS return_value, version FROM tasks WHERE id = ${task.id}`;
      expect(row).toMatchObject({ status: 'SUCCEEDED', returnValue: 2, version: 3 });
    } finally {
      proxy.cut();
      // Not db.close(): its graceful end() waits 5 s for the statement still pending on the quiet
      // connection (its answer was dropped), which nothing here reads.
      await db.sql.end({ timeout: 0 });
      await proxy.close();
    }
  });

  it('gives up a progress update whose connection stopped answering and stores it on another, so the handler awaiting it goes on', async () => {
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'hung-progress' });
    const { proxy, db } = await databaseThroughProxy(env.app.database.url, 2);
    const { log, lines } = captureLog();
    try {
      const store = createOutcomeStore({ sql: db.sql, registry: env.app.deps.registry, workerId: WORKER, log, resultTtlMs: 60_000, retryForMs: 30_000, writeTimeoutMs: 300 });
      const progress = store.progressReporter(task);
      // The first update prepares the statement on the connection that then goes quiet.
      await progress({ current: 1, total: 3 });
      proxy.dropAnswers();
      await progress({ current: 2, total: 3, message: 'past the quiet connection' });
      expect(lines.some((l) => l.msg === 'progress update failed; retrying' && (l as { err?: { code?: string } }).err?.code === 'WRITE_TIMEOUT')).toBe(true);
      const [row] = await env.app.sql`SELECT progress FROM tasks WHERE id = ${task.id}`;
      expect(row?.progress).toMatchObject({ current: 2, total: 3, message: 'past the quiet connection' });
    } finally {
      proxy.cut();
      // Not db.close(): its graceful end() waits 5 s for the statement still pending on the quiet
      // connection (its answer was dropped), which nothing here reads.
      await db.sql.end({ timeout: 0 });
      await proxy.close();
    }
  });

  it('keeps an outcome past retryForMs while the database is away (a full disk) and the runner goes on; gives it up once it stops', async () => {
    // Completions refused as a full disk refuses them (53100).
    const disk = await refusedWrites(env.app.sql, {
      name: 'disk',
      table: 'tasks',
      event: 'UPDATE',
      when: `NEW.status = 'SUCCEEDED'`,
      sqlState: '53100',
      message: 'could not extend file: No space left on device',
    });
    await disk.block();
    try {
      let running = true;
      let pastGrace = false;
      const { log, lines } = captureLog();
      const store = createOutcomeStore({
        sql: env.app.sql,
        registry: env.app.deps.registry,
        workerId: WORKER,
        log,
        resultTtlMs: 60_000,
        retryForMs: 200,
        keepWhileAway: () => running,
        giveUpNow: () => pastGrace,
      });
      const kept = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'disk-full' });
      const recording = store.record(kept, { kind: 'succeeded', returnValue: '"kept"' });
      await waitFor(() => lines.some((l) => l.msg === 'recording the outcome failed; retrying'), { message: 'the first refusal' });
      // Well past retryForMs, still refused: kept.
      await delay(600);
      await disk.unblock();
      expect(await recording).toBe(true);
      const [row] = await env.app.sql`SELECT status, return_value_json AS return_value FROM tasks WHERE id = ${kept.id}`;
      expect(row).toMatchObject({ status: 'SUCCEEDED', returnValue: 'kept' });

      // A worker that stops gives it up after retryForMs, as before.
      await disk.block();
      running = false;
      const dropped = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'disk-full' });
      expect(await store.record(dropped, { kind: 'succeeded', returnValue: '"dropped"' })).toBe(false);
      expect(lines.some((l) => l.msg === 'could not record the outcome; the rescuer will take the task back')).toBe(true);
      // Past the stop's grace a failed write is given up at its first failure, not after retryForMs.
      pastGrace = true;
      const store2 = createOutcomeStore({ sql: env.app.sql, registry: env.app.deps.registry, workerId: WORKER, log, resultTtlMs: 60_000, retryForMs: 600_000, giveUpNow: () => pastGrace });
      const late = await insertTask(env.app.sql, { status: 'RUNNING', workerId: WORKER, queue: 'disk-full' });
      const t0 = Date.now();
      expect(await store2.record(late, { kind: 'succeeded', returnValue: '"late"' })).toBe(false);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await disk.drop();
    }
  });

  it('still reports an outcome the database does not hold as not written (another worker has the task)', async () => {
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: 'w-elsewhere', queue: 'lost-answer' });
    const store = createOutcomeStore({ sql: env.app.sql, registry: env.app.deps.registry, workerId: WORKER, log: captureLog().log, resultTtlMs: 60_000, retryForMs: 1_000 });
    expect(await store.record(task, { kind: 'succeeded', returnValue: '1' })).toBe(false);
  });
});

describe('the outcome store with large results', () => {
  it('records results that arrive together in statements of at most BATCH_BYTES each', async () => {
    const { sql, deps } = env.app;
    const queue = 'large-results';
    await deps.queue.enqueueMany(Array.from({ length: 40 }, () => ({ name: 'test.record', queue })));
    const claimed = await claimTasks(sql, { workerId: 'w-large', limit: 40, queues: [queue], leaseMs: 60_000 });
    expect(claimed).toHaveLength(40);
    // The largest text each statement sent: the batch's results.
    const sent: number[] = [];
    const measured = new Proxy(sql, {
      apply(target, thisArg, args: unknown[]) {
        sent.push(Math.max(0, ...args.slice(1).map((v) => (typeof v === 'string' ? v.length : 0))));
        return Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args);
      },
    });
    const store = createOutcomeStore({ sql: measured, registry: deps.registry, workerId: 'w-large', log: captureLog().log, resultTtlMs: 60_000, retryForMs: 30_000 });
    // 40 results of ~1 MB, each its own text, all finishing in the same tick (one would have been one statement of 40 MB).
    const valueOf = (i: number): string => JSON.stringify(`${i}:`.padEnd(1_000_000, String.fromCharCode(97 + (i % 26))));
    const written = await Promise.all(claimed.map((task, i) => store.record(task, { kind: 'succeeded', returnValue: valueOf(i) })));
    expect(written.every(Boolean)).toBe(true);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...sent)).toBeLessThanOrEqual(BATCH_BYTES + 2);
    const rows = await sql`
      SELECT count(*) FILTER (WHERE t.status = 'SUCCEEDED' AND t.return_value_json::text = w.v)::int AS kept
      FROM unnest(${claimed.map((t) => t.id)}::uuid[], ${claimed.map((_, i) => valueOf(i))}::text[]) AS w(id, v) JOIN tasks t ON t.id = w.id`;
    expect(rows[0]?.kept).toBe(40);
  });
});
