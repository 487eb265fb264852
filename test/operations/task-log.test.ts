import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../src/deps.js';
import { logTaskLifecycle, MAX_LOGGED_ERROR } from '../../src/metrics/task-log.js';
import { defineTask } from '../../src/worker/define-task.js';
import type { Runner } from '../../src/worker/runner.js';
import { createTestApp, FAST_RUNNER, type TestApp } from '../helpers/app.js';
import { waitForStatus } from '../helpers/factories.js';
import { captureLog, type LogLine } from '../helpers/log-capture.js';
import { waitFor } from '../helpers/wait.js';

type Line = LogLine & { msg: string };

const { log, lines } = captureLog<Line>('debug');

// A handler that logs through ctx.log: its lines must carry the task and worker too. It takes
// `info` off ctx.log, as handlers may: the logger's methods are plain functions, not `this`-bound.
const chatty = defineTask({
  name: 'test.chatty',
  run: (_args, ctx) => {
    const { info } = ctx.log;
    info('halfway there', { step: 1 });
    return 'done';
  },
});

let app: TestApp;
let deps: Deps;
let runner: Runner;

beforeAll(async () => {
  app = await createTestApp({ log, tasks: [chatty], runnerDefaults: FAST_RUNNER });
  deps = app.deps;
  runner = app.runner();
  logTaskLifecycle(runner, log);
  await runner.start();
});
afterAll(async () => {
  await app?.close();
});

describe('logTaskLifecycle', () => {
  it('logs each attempt\'s start and end with taskId, workerId, name, queue and attempt; every task line has both ids', async () => {
    const ok = await deps.queue.enqueue({ name: 'test.chatty' });
    const failed = await deps.queue.enqueue({ name: 'demo.fail', args: ['logged'] });
    const sleeping = await deps.queue.enqueue({ name: 'demo.sleep', args: [60_000] });
    await waitForStatus(deps, ok.id, 'SUCCEEDED');
    await waitForStatus(deps, failed.id, 'FAILED');
    await waitForStatus(deps, sleeping.id, 'RUNNING');
    await deps.queue.cancelTask(sleeping.id);
    await waitForStatus(deps, sleeping.id, 'CANCELLED');
    await waitFor(() => lines.some((l) => l.taskId === sleeping.id && l.msg === 'task cancelled'), { message: 'the cancelled line' });

    const about = (id: string) => lines.filter((l) => l.taskId === id);
    const base = { workerId: runner.workerId, queue: 'default', attempt: 1 };
    // The runner starts a claimed task before it announces the claim: the handler's line can come first.
    expect(about(ok.id).map((l) => [l.level, l.msg]).sort()).toEqual([
      [20, 'task started'],
      [30, 'halfway there'],
      [30, 'task succeeded'],
    ]);
    expect(about(ok.id).find((l) => l.msg === 'halfway there')).toMatchObject({ workerId: runner.workerId, taskId: ok.id, attempt: 1, step: 1 });
    expect(about(ok.id).at(-1)).toMatchObject({ ...base, name: 'test.chatty', outcome: 'succeeded', durationMs: expect.any(Number) });
    expect(about(failed.id).at(-1)).toMatchObject({ ...base, level: 40, msg: 'task failed', name: 'demo.fail', outcome: 'failed', maxAttempts: 1 });
    expect(about(sleeping.id).at(-1)).toMatchObject({ ...base, level: 30, msg: 'task cancelled', name: 'demo.sleep' });

    // Whatever logged it (runner, handler, this observer): a line about a task names its worker.
    const withTask = lines.filter((l) => 'taskId' in l);
    expect(withTask).toHaveLength(7);
    expect(withTask.filter((l) => l.workerId !== runner.workerId)).toEqual([]);
  });

  it('says on a failure line why it failed (errorType, error clipped) and whether the task runs again', async () => {
    const long = `boom ${'x'.repeat(1000)}`;
    const retried = await deps.queue.enqueue({ name: 'demo.fail', args: [long], maxAttempts: 2, backoff: { baseMs: 1, maxMs: 1 } });
    const timedOut = await deps.queue.enqueue({ name: 'demo.sleep', args: [60_000], timeoutMs: 50 });
    await waitForStatus(deps, retried.id, 'FAILED');
    await waitForStatus(deps, timedOut.id, 'FAILED');
    const failures = (id: string) =>
      waitFor(() => {
        const found = lines.filter((l) => l.taskId === id && l.msg === 'task failed');
        return found.length > 0 && found;
      }, { message: `the failure lines of ${id}` });

    const [first, last] = await waitFor(async () => {
      const found = await failures(retried.id);
      return found.length === 2 && found;
    }, { message: 'both attempts\' failure lines' });
    expect(first).toMatchObject({ level: 40, attempt: 1, outcome: 'failed', errorType: 'DemoFailure', willRetry: true });
    expect(last).toMatchObject({ level: 40, attempt: 2, outcome: 'failed', errorType: 'DemoFailure', willRetry: false });
    expect(String(first?.error)).toMatch(/^boom x+…$/);
    expect(String(first?.error)).toHaveLength(MAX_LOGGED_ERROR);

    const [timeout] = await failures(timedOut.id);
    expect(timeout).toMatchObject({ name: 'demo.sleep', errorType: 'TimeoutError', error: expect.stringContaining('50 ms'), willRetry: false });
  });
});
