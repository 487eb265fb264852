import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chain, chord } from '../../../src/queue/workflows/canvas.js';
import type { Workflow, WorkflowStatus } from '../../../src/queue/workflows/types.js';
import { createQueueTestApp, waitForStatus, type QueueTestApp } from '../../helpers/factories.js';
import { waitFor } from '../../helpers/wait.js';
import { idsOf, statusesOf, strandedSteps, strandedWorkflows, workflowTasks } from '../../helpers/workflows.js';

// Workflows run by real runners: results passed on through ctx.dependencies, policies, cancel.
let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp({}, workflowTasks);
});
afterAll(async () => {
  await app.close();
});
afterEach(async () => {
  await app.stopRunners();
});

function waitForWorkflow(id: string, status: WorkflowStatus, timeoutMs = 20_000): Promise<Workflow> {
  return waitFor(
    async () => {
      const wf = await app.deps.queue.workflows.get(id);
      return wf?.status === status ? wf : undefined;
    },
    { timeoutMs, message: `workflow ${id} to be ${status}` },
  );
}

async function resultOf(id: string): Promise<unknown> {
  return (await app.deps.queue.getTask(id))?.returnValue;
}

describe('workflows run by a worker', () => {
  it('runs a diamond, each step reading its parents results by ref', async () => {
    const q = app.deps.queue;
    const s = (ref: string, dependsOn: string[] = []) => ({ ref, task: { name: 'wf.step', args: [ref] }, dependsOn });
    const wf = await q.workflows.enqueue({ steps: [s('a'), s('b', ['a']), s('c', ['a']), s('d', ['b', 'c'])] });
    await app.startRunner();
    await waitForWorkflow(wf.id, 'SUCCEEDED');
    const id = idsOf(wf);
    expect(await resultOf(id.a as string)).toEqual({ label: 'a', deps: {} });
    expect(await resultOf(id.d as string)).toEqual({
      label: 'd',
      deps: { b: { label: 'b', deps: { a: { label: 'a', deps: {} } } }, c: { label: 'c', deps: { a: { label: 'a', deps: {} } } } },
    });
  });

  it('runs a chain of 50, each step getting the previous result', async () => {
    const wf = await app.deps.queue.workflows.enqueue(chain(...Array.from({ length: 50 }, () => ({ name: 'wf.add', args: [1] }))));
    await app.startRunner();
    const done = await waitForWorkflow(wf.id, 'SUCCEEDED');
    expect(await resultOf(done.steps.at(-1)?.taskId as string)).toBe(50);
  });

  it('runs a chord over 1,000: the callback sums every header result', async () => {
    const header = Array.from({ length: 1000 }, (_, i) => ({ name: 'wf.add', args: [i] }));
    const wf = await app.deps.queue.workflows.enqueue(chord(header, { name: 'wf.sum' }));
    await app.startRunner({ concurrency: 32 });
    const done = await waitForWorkflow(wf.id, 'SUCCEEDED', 60_000);
    expect(await resultOf(done.steps.at(-1)?.taskId as string)).toBe((999 * 1000) / 2);
  });

  it('CANCEL: a failed parent cancels its dependents with DependencyFailed; the workflow FAILED', async () => {
    const wf = await app.deps.queue.workflows.enqueue({
      steps: [
        { ref: 'bad', task: { name: 'wf.fail' } },
        { ref: 'next', task: { name: 'wf.step', args: ['next'] }, dependsOn: ['bad'] },
        { ref: 'last', task: { name: 'wf.step', args: ['last'] }, dependsOn: ['next'] },
      ],
    });
    await app.startRunner();
    await waitForWorkflow(wf.id, 'FAILED');
    expect(await statusesOf(app.sql, wf.id)).toEqual({ bad: 'FAILED', next: 'CANCELLED', last: 'CANCELLED' });
    const last = await app.deps.queue.getTask(idsOf(wf).last as string);
    expect(last?.errors.at(-1)).toMatchObject({ exceptionType: 'DependencyFailed', attempt: 0 });
    expect(last?.attempts).toBe(0);
  });

  it('RUN_ANYWAY: runs after every parent ended, a failed parent reading as null; the workflow FAILED', async () => {
    const wf = await app.deps.queue.workflows.enqueue({
      steps: [
        { ref: 'bad', task: { name: 'wf.fail' } },
        { ref: 'good', task: { name: 'wf.add', args: [5] } },
        { ref: 'after', task: { name: 'wf.step', args: ['after'] }, dependsOn: ['bad', 'good'], onDependencyFailure: 'RUN_ANYWAY' },
      ],
    });
    await app.startRunner();
    await waitForWorkflow(wf.id, 'FAILED');
    expect(await resultOf(idsOf(wf).after as string)).toEqual({ label: 'after', deps: { bad: null, good: 5 } });
  });

  it('retryTask on a failed parent revives its cancelled dependents, which then run', async () => {
    const q = app.deps.queue;
    const wf = await q.workflows.enqueue({
      steps: [
        { ref: 'flaky', task: { name: 'test.fail-once', maxAttempts: 1 } },
        { ref: 'then', task: { name: 'wf.step', args: ['then'] }, dependsOn: ['flaky'] },
      ],
    });
    await app.startRunner();
    await waitForWorkflow(wf.id, 'FAILED');
    expect(await statusesOf(app.sql, wf.id)).toEqual({ flaky: 'FAILED', then: 'CANCELLED' });
    await q.retryTask(idsOf(wf).flaky as string);
    const done = await waitForWorkflow(wf.id, 'SUCCEEDED');
    expect(done.finishedAt).not.toBeNull();
    expect(await resultOf(idsOf(wf).then as string)).toEqual({ label: 'then', deps: { flaky: { attempt: 2 } } });
  });

  it('cancel() mid-run stops the running step through its AbortSignal and cancels the rest', async () => {
    const q = app.deps.queue;
    const wf = await q.workflows.enqueue({
      steps: [
        { ref: 'done', task: { name: 'wf.add', args: [1] } },
        { ref: 'long', task: { name: 'wf.block' }, dependsOn: ['done'] },
        { ref: 'after', task: { name: 'wf.step', args: ['after'] }, dependsOn: ['long'], onDependencyFailure: 'RUN_ANYWAY' },
      ],
    });
    await app.startRunner();
    const id = idsOf(wf);
    await waitForStatus(app.deps, id.long as string, 'RUNNING');
    // While the workflow runs, the cleaner keeps its finished step whatever its retention.
    const later = new Date(Date.now() + 365 * 86_400_000);
    await app.deps.cleaner.runOnce(later);
    expect((await q.getTask(id.done as string))?.status).toBe('SUCCEEDED');
    const cancelled = await q.workflows.cancel(wf.id);
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.finishedAt).not.toBeNull();
    await waitForStatus(app.deps, id.long as string, 'CANCELLED');
    expect(await statusesOf(app.sql, wf.id)).toEqual({ done: 'SUCCEEDED', long: 'CANCELLED', after: 'CANCELLED' });
    expect((await q.workflows.get(wf.id))?.status).toBe('CANCELLED');
    expect(await q.workflows.cancel(wf.id)).toMatchObject({ status: 'CANCELLED' });
    expect(await strandedSteps(app.sql)).toEqual([]);
    expect(await strandedWorkflows(app.sql)).toEqual([]);
    // The workflow ended: its steps go with their retention.
    await app.deps.cleaner.runOnce(later);
    expect(await q.getTask(id.done as string)).toBeUndefined();
    expect(await q.workflows.get(wf.id)).toBeUndefined();
  });
});
