import { describe, expect, it } from 'vitest';
import { createDeps } from '../../src/deps.js';
import { TaskWaitTimeoutError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { waitForTask } from '../../src/queue/wait-for-task.js';
import { useQueueTestApp } from '../helpers/factories.js';

// queue.waitFor: a task's outcome for a program or a test, without a GraphQL server.
const env = useQueueTestApp();

describe('queue.waitFor', () => {
  it('resolves with the finished task when a worker ends it, woken by its notification (the poll a minute away)', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'math.copysign', args: [2, -1] });
    const waiting = env.app.deps.queue.waitFor(task.id, { pollMs: 60_000, timeoutMs: 20_000 });
    await env.app.startRunner();
    const done = await waiting;
    expect([done.id, done.status, done.returnValue]).toEqual([task.id, 'SUCCEEDED', -2]);
    // Finished already: at once.
    expect((await env.app.deps.queue.waitFor(task.id, { pollMs: 60_000, timeoutMs: 1000 })).status).toBe('SUCCEEDED');
    await env.app.stopRunners();
  });

  it('resolves with a FAILED or CANCELLED task as with a SUCCEEDED one', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: 'wait-cancel' });
    const waiting = env.app.deps.queue.waitFor(task.id, { pollMs: 60_000, timeoutMs: 20_000 });
    await env.app.deps.queue.cancelTask(task.id);
    expect((await waiting).status).toBe('CANCELLED');
  });

  it('gives up past timeoutMs with the task as last read, on an abort with its reason, and refuses an unknown id', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: 'wait-nobody' });
    const started = performance.now();
    const timedOut = await env.app.deps.queue.waitFor(task.id, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(TaskWaitTimeoutError);
    expect([(timedOut as TaskWaitTimeoutError).code, (timedOut as TaskWaitTimeoutError).last?.status]).toEqual(['WAIT_TIMEOUT', 'PENDING']);
    expect(performance.now() - started).toBeLessThan(5000);
    const controller = new AbortController();
    const waiting = env.app.deps.queue.waitFor(task.id).catch((e: unknown) => e);
    controller.abort(new Error('no longer wanted'));
    const stopped = env.app.deps.queue.waitFor(task.id, { signal: controller.signal }).catch((e: unknown) => e);
    expect(((await stopped) as Error).message).toBe('no longer wanted');
    const unknown = await env.app.deps.queue.waitFor('01900000-0000-7000-8000-000000000000', { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect((unknown as { code?: string }).code).toBe('NOT_FOUND');
    // Another tenant's task is unknown to a scoped queue.
    const foreign = await env.app.deps.queue.scoped({ readTenant: 'other', writeTenant: 'other', createdBy: null }).waitFor(task.id, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect((foreign as { code?: string }).code).toBe('NOT_FOUND');
    await env.app.deps.queue.cancelTask(task.id);
    expect(((await waiting) as { status?: string }).status).toBe('CANCELLED');
  });

  it('waits past a read that failed (the database away) rather than calling the task unknown, and ends when its pool is closed', async () => {
    const task = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: 'wait-away' });
    let reads = 0;
    const read = async () => {
      reads += 1;
      if (reads === 1) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      return env.app.deps.queue.getTask(task.id);
    };
    const waiting = waitForTask(env.app.sql, task.id, read, { pollMs: 50, timeoutMs: 20_000 });
    await env.app.deps.queue.cancelTask(task.id);
    expect((await waiting).status).toBe('CANCELLED');
    expect(reads).toBeGreaterThan(1);

    // A wait with no timeout still waiting when the program closes its deps: it ends, with the pool's error.
    const own = await createDeps(env.app.config, { databaseUrl: env.app.database.url, log: silentLogger });
    const pending = await own.queue.enqueue({ name: 'demo.echo', queue: 'wait-closed' });
    const open = own.queue.waitFor(pending.id, { pollMs: 50 }).catch((e: unknown) => e);
    await own.close();
    expect(((await open) as { code?: string }).code).toBe('CONNECTION_ENDED');
  });
});
