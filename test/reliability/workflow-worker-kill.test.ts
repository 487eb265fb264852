import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildWorker, type ChildWorker } from '../helpers/child-workers.js';
import { hangFirst, nap } from '../helpers/child-tasks.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';
import { idsOf, statusesOf, strandedSteps, strandedWorkflows } from '../helpers/workflows.js';

// A worker process SIGKILLed while it holds two workflow parents: the rescuer's statement that
// takes them back is a step's end like any other, so the one out of attempts releases its
// RUN_ANYWAY child and cancels its CANCEL child, and the one retried releases its child when it
// succeeds on another worker.
let app: QueueTestApp;
let child: ChildWorker | undefined;
beforeAll(async () => {
  app = await createQueueTestApp({ LEASE_MS: '2000', HEARTBEAT_MS: '500' }, [hangFirst, nap]);
});
afterAll(async () => {
  if (child && child.child.exitCode === null && child.child.signalCode === null) await child.kill();
  await app.close();
});

describe('a worker SIGKILLed holding workflow parents', () => {
  it('the rescue ends or retries the parents, and their children are released or cancelled by policy', { timeout: 60_000 }, async () => {
    const q = app.deps.queue;
    const wf = await q.workflows.enqueue({
      steps: [
        { ref: 'retried', task: { name: 'child.hang-first', maxAttempts: 2, backoff: { baseMs: 1, maxMs: 1 } } },
        { ref: 'lost', task: { name: 'child.hang-first', maxAttempts: 1 } },
        { ref: 'afterRetried', task: { name: 'child.nap', args: [5] }, dependsOn: ['retried'] },
        { ref: 'afterLost', task: { name: 'child.nap', args: [5] }, dependsOn: ['lost'] },
        { ref: 'anyway', task: { name: 'child.nap', args: [5] }, dependsOn: ['lost'], onDependencyFailure: 'RUN_ANYWAY' },
      ],
    });
    const id = idsOf(wf);
    child = await startChildWorker(app.database.url, { LEASE_MS: '2000', HEARTBEAT_MS: '500', WORKER_POLL_INTERVAL_MS: '100' });
    const worker = child.workerId;
    await waitFor(
      async () => {
        const rows = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE id IN ${app.sql([id.retried as string, id.lost as string])} AND status = 'RUNNING' AND locked_by = ${worker}`;
        return Number(rows[0]?.n) === 2;
      },
      { message: 'the child worker to hold both parents' },
    );
    await child.kill();

    // Its leases run out; the rescuer takes both back (as if a few seconds had passed).
    const rescued = await app.deps.rescuer.runOnce(new Date(Date.now() + 10_000));
    expect(rescued.map((t) => [t.id, t.status]).sort()).toEqual(
      [
        [id.retried, 'RETRYING'],
        [id.lost, 'FAILED'],
      ].sort(),
    );
    expect(await statusesOf(app.sql, wf.id)).toMatchObject({ afterLost: 'CANCELLED', anyway: 'PENDING', afterRetried: 'BLOCKED' });

    await app.startRunner();
    const done = await waitFor(
      async () => {
        const w = await q.workflows.get(wf.id);
        return w?.status === 'FAILED' ? w : undefined;
      },
      { timeoutMs: 20_000, message: 'the workflow to end' },
    );
    expect(done.finishedAt).not.toBeNull();
    expect(await statusesOf(app.sql, wf.id)).toEqual({
      retried: 'SUCCEEDED',
      lost: 'FAILED',
      afterRetried: 'SUCCEEDED',
      afterLost: 'CANCELLED',
      anyway: 'SUCCEEDED',
    });
    expect((await q.getTask(id.lost as string))?.errors.at(-1)?.exceptionType).toBe('WorkerLost');
    expect(await strandedSteps(app.sql)).toEqual([]);
    expect(await strandedWorkflows(app.sql)).toEqual([]);
  });
});
