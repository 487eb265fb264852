import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client.js';
import { createBulkActionRunner, type BulkActionRunner } from '../../src/queue/bulk-actions/index.js';
import { failBulkAction, processBulkBatch } from '../../src/queue/bulk-actions/sql/process-bulk-batch.js';
import { silentLogger } from '../../src/logger.js';
import { insertBulkTasks } from '../helpers/bulk-tasks.js';
import { createQueueTestApp, insertTask, type QueueTestApp } from '../helpers/factories.js';
import { planNodes } from '../helpers/explained-plans.js';
import { useLockContention } from '../helpers/lock-contention.js';
import { autoExplain } from '../../bench/lib/auto-explain.js';

let app: QueueTestApp;
const runners: BulkActionRunner[] = [];
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await app.close();
});
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
  await app.sql`DELETE FROM tasks`;
  await app.sql`DELETE FROM task_events`;
  await app.sql`DELETE FROM bulk_actions`;
  await app.sql`DELETE FROM bulk_action_tasks`;
});

const { contend } = useLockContention(() => app.sql);

function runner(batchSize = 500): BulkActionRunner {
  const made = createBulkActionRunner({ sql: app.sql, log: silentLogger, resultTtlMs: 60_000, batchSize, pollIntervalMs: 60_000 });
  runners.push(made);
  return made;
}

/** RETRIED/CANCELLED… events per task: task id → count. */
async function eventCounts(sql: Sql, type: string): Promise<Map<string, number>> {
  const rows = await sql`SELECT task_id, count(*)::int AS n FROM task_events WHERE type = ${type}::task_event_type GROUP BY task_id`;
  return new Map(rows.map((r) => [r.taskId as string, r.n as number]));
}

const statusCounts = async (sql: Sql, name: string): Promise<Record<string, number>> =>
  Object.fromEntries((await sql`SELECT status, count(*)::int AS n FROM tasks WHERE name = ${name} GROUP BY status`).map((r) => [r.status, r.n]));

describe('queue.bulkActions.create', () => {
  it('cancels exactly the tasks matching when it was created, not those that match later', async () => {
    const far = new Date(Date.now() + 3_600_000);
    await insertBulkTasks(app.sql, { count: 1200, status: 'PENDING', name: 'demo.echo', runAfter: far });
    await insertBulkTasks(app.sql, { count: 30, status: 'PENDING', name: 'demo.other', runAfter: far });
    const action = await app.deps.queue.bulkActions.create('CANCEL', { status: ['PENDING'], name: 'demo.echo' });
    expect(action).toMatchObject({ kind: 'CANCEL', status: 'RUNNING', matched: 1200, processed: 0, changed: 0, version: 1 });
    // Matching, but enqueued after the action: not one of its tasks.
    const later = await app.deps.queue.enqueue({ name: 'demo.echo', runAfter: far });

    expect(await runner(500).runOnce()).toBe(1200);
    const done = await app.deps.queue.bulkActions.get(action.id);
    expect(done).toMatchObject({ status: 'DONE', matched: 1200, processed: 1200, changed: 1200, version: 5 }); // 3 batches + the end
    expect(done?.finishedAt).toBeInstanceOf(Date);
    expect(await statusCounts(app.sql, 'demo.echo')).toEqual({ CANCELLED: 1200, PENDING: 1 });
    expect((await app.deps.queue.getTask(later.id))?.status).toBe('PENDING');
    expect(await statusCounts(app.sql, 'demo.other')).toEqual({ PENDING: 30 });
    const cancelled = await eventCounts(app.sql, 'CANCELLED');
    expect(cancelled.size).toBe(1200);
    expect([...cancelled.values()].every((n) => n === 1)).toBe(true);
  });

  it('is DONE at once when nothing matches', async () => {
    const action = await app.deps.queue.bulkActions.create('RETRY', { name: 'nothing.here' });
    expect(action).toMatchObject({ status: 'DONE', matched: 0, processed: 0, changed: 0 });
    expect(action.finishedAt).toBeInstanceOf(Date);
  });

  it('requests the cancellation of a running task, as cancelTask does, and leaves finished ones processed but unchanged', async () => {
    const far = new Date(Date.now() + 3_600_000);
    const [running, pending, succeeded] = await Promise.all([1, 2, 3].map(() => insertTask(app.sql, { status: 'PENDING', name: 'demo.echo', runAfter: far })));
    if (!running || !pending || !succeeded) throw new Error('insertTask lost a task');
    // Set by hand, not claimed: only the states matter here (no worker runs).
    await app.sql`UPDATE tasks SET status = 'RUNNING', attempts = 1, locked_by = 'w', lease_expires_at = now() + interval '1 minute' WHERE id = ${running.id}`;
    await app.sql`UPDATE tasks SET status = 'SUCCEEDED', attempts = 1, finished_at = now() WHERE id = ${succeeded.id}`;
    const action = await app.deps.queue.bulkActions.create('CANCEL', { name: 'demo.echo' });
    expect(action.matched).toBe(3);
    await runner().runOnce();
    expect(await app.deps.queue.bulkActions.get(action.id)).toMatchObject({ status: 'DONE', processed: 3, changed: 2 });
    expect(await app.deps.queue.getTask(running.id)).toMatchObject({ status: 'RUNNING', cancelRequested: true });
    expect((await app.deps.queue.getTask(pending.id))?.status).toBe('CANCELLED');
    expect((await app.deps.queue.getTask(succeeded.id))?.status).toBe('SUCCEEDED');
    const types = await app.sql`SELECT task_id, type FROM task_events WHERE type IN ('CANCEL_REQUESTED', 'CANCELLED')`;
    expect(types.map((r) => `${r.taskId === running.id ? 'running' : 'pending'}:${r.type}`).sort()).toEqual(['pending:CANCELLED', 'running:CANCEL_REQUESTED']);
  });

  it('acts on its tenant only, and another tenant reads it as unknown', async () => {
    await insertBulkTasks(app.sql, { count: 5, status: 'FAILED', tenant: 'acme' });
    await insertBulkTasks(app.sql, { count: 7, status: 'FAILED', tenant: 'globex' });
    const acme = app.deps.queue.scoped({ readTenant: 'acme', writeTenant: 'acme', createdBy: 'key-1' });
    const globex = app.deps.queue.scoped({ readTenant: 'globex', writeTenant: 'globex', createdBy: null });
    const action = await acme.bulkActions.create('RETRY', { status: ['FAILED'], tenant: 'globex' });
    expect(action.matched).toBe(0); // a filter naming another tenant finds nothing
    const own = await acme.bulkActions.create('RETRY', { status: ['FAILED'] });
    expect(own).toMatchObject({ tenant: 'acme', createdBy: 'key-1', matched: 5 });
    expect(await globex.bulkActions.get(own.id)).toBeUndefined();
    expect(await acme.bulkActions.get('not-a-uuid')).toBeUndefined();
    await runner().runOnce();
    expect((await acme.bulkActions.get(own.id))?.status).toBe('DONE');
    const byTenant = await app.sql`SELECT tenant, status, count(*)::int AS n FROM tasks GROUP BY tenant, status ORDER BY tenant`;
    expect(byTenant.map((r) => `${r.tenant}:${r.status}:${r.n}`)).toEqual(['acme:PENDING:5', 'globex:FAILED:7']);
  });

  it('refuses a malformed filter and stores nothing', async () => {
    await expect(app.deps.queue.bulkActions.create('CANCEL', { name: 'a\u0000b' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    const [row] = await app.sql`SELECT count(*)::int AS n FROM bulk_actions`;
    expect(row?.n).toBe(0);
  });
});

describe('processBulkBatch', () => {
  it('takes a batch off the list by its primary key, however many targets remain, on statistics read while the list was empty', async () => {
    // As between actions: autovacuum read the list after an action had emptied it, so the planner
    // takes its pages for empty ones and expects no rows in it (reltuples 0 over relpages > 0).
    await insertBulkTasks(app.sql, { count: 5000, status: 'PENDING', queue: 'before-q', runAfter: new Date(Date.now() + 3_600_000) });
    const earlier = await app.deps.queue.bulkActions.create('CANCEL', { queue: 'before-q' });
    await app.sql`DELETE FROM bulk_action_tasks WHERE action_id = ${earlier.id}`;
    await app.sql`VACUUM (TRUNCATE false, ANALYZE) bulk_action_tasks`;
    await insertBulkTasks(app.sql, { count: 5000, status: 'PENDING', queue: 'plan-q', runAfter: new Date(Date.now() + 3_600_000) });
    const action = await app.deps.queue.bulkActions.create('CANCEL', { queue: 'plan-q' });
    const plans = await autoExplain(app.database.url, (c) => processBulkBatch(c, { actionId: action.id, kind: 'CANCEL', limit: 100, defaultTtlMs: 60_000 }), { analyze: true });
    const statement = plans.at(-1)?.plan;
    const removed = planNodes(statement).reduce((sum, n) => sum + Number((n as { 'Rows Removed by Join Filter'?: number })['Rows Removed by Join Filter'] ?? 0), 0);
    // A join of the batch with the whole list compared each of its 100 with the 5,000: 500,000 rows removed.
    expect(removed).toBeLessThan(1000);
    // Nor a scan of the whole list per batch: the rows taken are fetched by their tuple ids.
    const marked = planNodes(statement).find((n) => n['Node Type'] === 'ModifyTable' && n['Relation Name'] === 'bulk_action_tasks');
    expect(planNodes(marked).map((n) => n['Node Type'])).toContain('Tid Scan');
    expect(planNodes(marked).some((n) => n['Node Type'] === 'Seq Scan')).toBe(false);
  });
});

describe('bulk action runner', () => {
  it('retries each task once with several runners sharing the work, the counts exact', async () => {
    await insertBulkTasks(app.sql, { count: 3000, status: 'FAILED', name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000) });
    const action = await app.deps.queue.bulkActions.create('RETRY', { status: ['FAILED'] });
    const all = [runner(200), runner(200), runner(200), runner(200)];
    const processed = await Promise.all(all.map((r) => r.runOnce()));
    expect(processed.reduce((a, b) => a + b, 0)).toBe(3000);
    expect(await app.deps.queue.bulkActions.get(action.id)).toMatchObject({ status: 'DONE', matched: 3000, processed: 3000, changed: 3000 });
    const retried = await eventCounts(app.sql, 'RETRIED');
    expect(retried.size).toBe(3000);
    expect([...retried.values()].every((n) => n === 1)).toBe(true);
    // Running it again changes nothing: the action is done, its list empty.
    expect(await runner().runOnce()).toBe(0);
    expect((await eventCounts(app.sql, 'RETRIED')).size).toBe(3000);
  });

  it('takes a batch of each running action in turn: a small action created behind a big one ends first', async () => {
    await insertBulkTasks(app.sql, { count: 3000, status: 'PENDING', queue: 'big-q', runAfter: new Date(Date.now() + 3_600_000) });
    await insertBulkTasks(app.sql, { count: 10, status: 'PENDING', queue: 'small-q', runAfter: new Date(Date.now() + 3_600_000) });
    const big = await app.deps.queue.bulkActions.create('CANCEL', { queue: 'big-q' });
    const small = await app.deps.queue.bulkActions.create('CANCEL', { queue: 'small-q' });
    expect(await runner(100).runOnce()).toBe(3010);
    const [doneBig, doneSmall] = [await app.deps.queue.bulkActions.get(big.id), await app.deps.queue.bulkActions.get(small.id)];
    expect(doneBig).toMatchObject({ status: 'DONE', processed: 3000, changed: 3000 });
    expect(doneSmall).toMatchObject({ status: 'DONE', processed: 10, changed: 10 });
    // One action at a time, the big one (listed first) ended before the small one began.
    expect(doneSmall?.finishedAt?.getTime()).toBeLessThan(doneBig?.finishedAt?.getTime() ?? 0);
  });

  it('a batch rolled back (a crash before commit) leaves its tasks unchanged and still listed; the next run does them once', async () => {
    await insertBulkTasks(app.sql, { count: 50, status: 'FAILED' });
    const action = await app.deps.queue.bulkActions.create('RETRY', { status: ['FAILED'] });
    await app.sql
      .begin(async (tx) => {
        const batch = await processBulkBatch(tx, { actionId: action.id, kind: 'RETRY', limit: 20, defaultTtlMs: 1000 });
        expect(batch).toMatchObject({ processed: 20, changed: 20 });
        throw new Error('crash');
      })
      .catch((error: Error) => expect(error.message).toBe('crash'));
    expect(await app.deps.queue.bulkActions.get(action.id)).toMatchObject({ processed: 0, changed: 0, version: 1 });
    expect((await eventCounts(app.sql, 'RETRIED')).size).toBe(0);
    expect(await runner(20).runOnce()).toBe(50);
    const retried = await eventCounts(app.sql, 'RETRIED');
    expect(retried.size).toBe(50);
    expect([...retried.values()].every((n) => n === 1)).toBe(true);
  });

  it('counts a task retried meanwhile by retryTask as processed, not changed; both grant the attempts the task was enqueued with, at every retry', async () => {
    await insertBulkTasks(app.sql, { count: 3, status: 'FAILED', name: 'demo.echo' });
    // Enqueued with 3 attempts (demo.echo's definition has 1), all used: set by hand, no worker runs.
    await app.sql`UPDATE tasks SET attempts = 3, max_attempts = 3`;
    const action = await app.deps.queue.bulkActions.create('RETRY', { status: ['FAILED'] });
    const [first] = await app.sql`SELECT id FROM tasks ORDER BY id LIMIT 1`;
    await app.deps.queue.retryTask(first?.id as string);
    await runner().runOnce();
    expect(await app.deps.queue.bulkActions.get(action.id)).toMatchObject({ status: 'DONE', processed: 3, changed: 2 });
    expect((await app.sql`SELECT DISTINCT max_attempts FROM tasks`).map((r) => r.maxAttempts)).toEqual([6]);
    // Failed again, every attempt used: the next retry grants 3 more, not the 6 max_attempts now says.
    await app.sql`UPDATE tasks SET status = 'FAILED', attempts = 6, finished_at = now()`;
    await app.deps.queue.bulkActions.create('RETRY', { status: ['FAILED'] });
    await runner().runOnce();
    expect((await app.sql`SELECT DISTINCT status, max_attempts FROM tasks`).map((r) => [r.status, r.maxAttempts])).toEqual([['PENDING', 9]]);
  });

  it('ends an action FAILED, its error kept and its remaining tasks dropped, when its batches keep failing', async () => {
    await insertBulkTasks(app.sql, { count: 30, status: 'FAILED', name: 'bulk.poisoned' });
    // A statement that always fails (as a broken database object would): the batch rolls back each time.
    await app.sql.unsafe(`
      CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'poisoned task %', NEW.id; END $$;
      CREATE TRIGGER refuse_poisoned BEFORE UPDATE ON tasks FOR EACH ROW WHEN (NEW.name = 'bulk.poisoned') EXECUTE FUNCTION refuse_poisoned();`);
    try {
      const action = await app.deps.queue.bulkActions.create('RETRY', { name: 'bulk.poisoned' });
      const r = createBulkActionRunner({ sql: app.sql, log: silentLogger, resultTtlMs: 60_000, pollIntervalMs: 60_000, maxFailures: 2 });
      runners.push(r);
      expect(await r.runOnce()).toBe(0);
      expect(await app.deps.queue.bulkActions.get(action.id)).toMatchObject({ status: 'RUNNING', processed: 0 });
      await r.runOnce();
      const failed = await app.deps.queue.bulkActions.get(action.id);
      expect(failed).toMatchObject({ status: 'FAILED', processed: 0, changed: 0 });
      expect(failed?.error).toMatch(/poisoned task/);
      expect(failed?.finishedAt).toBeInstanceOf(Date);
      const [left] = await app.sql`SELECT count(*)::int AS n FROM bulk_action_tasks WHERE action_id = ${action.id}`;
      expect(left?.n).toBe(0);
      expect((await eventCounts(app.sql, 'RETRIED')).size).toBe(0);
    } finally {
      await app.sql.unsafe('DROP TRIGGER refuse_poisoned ON tasks; DROP FUNCTION refuse_poisoned();');
    }
  });

  it('failing an action while another runner\'s batch of it is under way: no deadlock, that batch done and counted, the rest dropped', async () => {
    await insertBulkTasks(app.sql, { count: 30, status: 'FAILED', name: 'bulk.failing' });
    const action = await app.deps.queue.bulkActions.create('RETRY', { name: 'bulk.failing' });
    // The fail queues for the action's row first, then the batch (its targets locked) queues behind it:
    // the fail, granted the row, then waited for the batch's targets, and the batch for the row.
    await contend(
      (c) => c`SELECT 1 FROM bulk_actions WHERE id = ${action.id} FOR UPDATE`,
      (c) => failBulkAction(c, action.id, 'given up'),
      (c) => processBulkBatch(c, { actionId: action.id, kind: 'RETRY', limit: 10, defaultTtlMs: 60_000 }),
    );
    expect(await app.deps.queue.bulkActions.get(action.id)).toMatchObject({ status: 'FAILED', error: 'given up', processed: 10, changed: 10 });
    expect(await statusCounts(app.sql, 'bulk.failing')).toEqual({ FAILED: 20, PENDING: 10 });
    const [left] = await app.sql`SELECT count(*)::int AS n FROM bulk_action_tasks WHERE action_id = ${action.id}`;
    expect(left?.n).toBe(0);
  });

  it('starts a new action on its notification, without waiting for the poll', async () => {
    const r = runner();
    await r.start();
    await insertBulkTasks(app.sql, { count: 10, status: 'FAILED' });
    const action = await app.deps.queue.bulkActions.create('RETRY', { status: ['FAILED'] });
    const { waitFor } = await import('../helpers/wait.js');
    await waitFor(async () => (await app.deps.queue.bulkActions.get(action.id))?.status === 'DONE', { timeoutMs: 5000, message: 'the action to end' });
  });
});
