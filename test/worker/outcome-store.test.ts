import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import type { Task } from '../../src/queue/task.js';
import type { Outcome } from '../../src/worker/execute-task.js';
import { createOutcomeStore } from '../../src/worker/outcome-store.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';
import { captureLog } from '../helpers/log-capture.js';
import { startProxy } from '../helpers/tcp-proxy.js';
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
): Promise<{ written: boolean; lines: ReturnType<typeof captureLog>['lines'] }> {
  const proxy = await startProxy(Number(new URL(env.app.database.url).port));
  const url = new URL(env.app.database.url);
  url.port = String(proxy.port);
  const db = createDb(url.toString(), { max: 1 });
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
    const [row] = await env.app.sql`SELECT status, return_value, version FROM tasks WHERE id = ${task.id}`;
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

  it('still reports an outcome the database does not hold as not written (another worker has the task)', async () => {
    const task = await insertTask(env.app.sql, { status: 'RUNNING', workerId: 'w-elsewhere', queue: 'lost-answer' });
    const store = createOutcomeStore({ sql: env.app.sql, registry: env.app.deps.registry, workerId: WORKER, log: captureLog().log, resultTtlMs: 60_000, retryForMs: 1_000 });
    expect(await store.record(task, { kind: 'succeeded', returnValue: '1' })).toBe(false);
  });
});
