import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createBulkActionRunner } from '../../src/queue/bulk-actions/index.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';
import { idsOf, statusesOf, workflowTasks } from '../helpers/workflows.js';

// A bulk retry goes through retryTask's change, so a failed workflow step retried in bulk revives
// its cancelled dependents as retryTask does (the workflow's triggers see the same UPDATE).
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

describe('retryTasks on failed workflow steps', () => {
  it('revives their cancelled dependents, which then run to the workflow\'s success', async () => {
    const q = app.deps.queue;
    const steps = [
      { ref: 'flaky', task: { name: 'test.fail-once', maxAttempts: 1 } },
      { ref: 'then', task: { name: 'wf.step', args: ['then'] }, dependsOn: ['flaky'] },
    ];
    const [one, two] = [await q.workflows.enqueue({ steps }), await q.workflows.enqueue({ steps })];
    if (!one || !two) throw new Error('no workflow');
    await app.startRunner();
    for (const wf of [one, two]) {
      await waitFor(async () => (await q.workflows.get(wf.id))?.status === 'FAILED', { timeoutMs: 20_000, message: 'the workflow to fail' });
      expect(await statusesOf(app.sql, wf.id)).toEqual({ flaky: 'FAILED', then: 'CANCELLED' });
    }
    // Only the failed steps: their dependents come back through the revival, not through the action.
    const action = await q.bulkActions.create('RETRY', { status: ['FAILED'], name: 'test.fail-once' });
    expect(action.matched).toBe(2);
    const runner = createBulkActionRunner({ sql: app.sql, log: silentLogger, resultTtlMs: 60_000, pollIntervalMs: 60_000 });
    expect(await runner.runOnce()).toBe(2);
    expect(await q.bulkActions.get(action.id)).toMatchObject({ status: 'DONE', processed: 2, changed: 2 });
    for (const wf of [one, two]) {
      await waitFor(async () => (await q.workflows.get(wf.id))?.status === 'SUCCEEDED', { timeoutMs: 20_000, message: 'the workflow to succeed' });
      expect((await q.getTask(idsOf(wf).then as string))?.status).toBe('SUCCEEDED');
    }
  });
});
