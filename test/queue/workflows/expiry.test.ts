import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { createCleaner, type Cleaner } from '../../../src/queue/maintenance/cleaner.js';
import { completeTasks } from '../../../src/queue/sql/complete-tasks.js';
import { markWorkflowCancelled } from '../../../src/queue/workflows/sql/cancel-workflow.js';
import { stampMissingExpiry } from '../../../src/queue/sql/delete-expired-tasks.js';
import { explainedPlans } from '../../helpers/explained-plans.js';
import { insertTask, useQueueTestApp } from '../../helpers/factories.js';
import { claimStep, failStep, idsOf, statusesOf, WORKER } from '../../helpers/workflows.js';

// Steps the release trigger (taskwire_workflow_steps_changed) ends get finished_at but no
// expires_at: the cleaner stamps them with RESULT_TTL_MS and deletes them, and their workflow
// with its last step. Before, they (and the workflow) stayed for good.
const env = useQueueTestApp();

const TTL_MS = 60_000;
const inMs = (ms: number): Date => new Date(Date.now() + ms);
const step = (ref: string, dependsOn: string[] = [], extra: object = {}) => ({ ref, task: { name: 'demo.echo', args: [ref] }, dependsOn, ...extra });

function cleaner(): Cleaner {
  return createCleaner({ sql: env.app.sql, log: silentLogger, resultTtlMs: TTL_MS });
}

/** Each task's retention as stamped (expires_at − finished_at, in ms; null: no expiry), by id. */
async function retentionOf(ids: readonly string[]): Promise<Record<string, number | null>> {
  const rows = await env.app.sql`
    SELECT id, finished_at IS NOT NULL AS finished, (extract(epoch FROM expires_at - finished_at) * 1000)::bigint AS ttl_ms
    FROM tasks WHERE id = ANY(${ids as string[]}::uuid[])`;
  for (const r of rows) expect(r.finished).toBe(true);
  return Object.fromEntries(rows.map((r) => [String(r.id), r.ttlMs === null ? null : Number(r.ttlMs)]));
}

async function eventCount(ids: readonly string[]): Promise<number> {
  const [row] = await env.app.sql`SELECT count(*)::int AS n FROM task_events WHERE task_id = ANY(${ids as string[]}::uuid[])`;
  return Number(row?.n);
}

describe('finished steps without an expiry', () => {
  it("a failed step's cancelled descendants are stamped with RESULT_TTL_MS (or their own), deleted, and the workflow with them", async () => {
    const q = env.app.deps.queue;
    const wf = await q.workflows.enqueue({
      name: 'fails',
      steps: [step('a'), step('b', ['a']), { ref: 'c', task: { name: 'demo.echo', resultTtlMs: 5000 }, dependsOn: ['b'] }],
    });
    const id = idsOf(wf);
    const all = [id.a, id.b, id.c] as string[];
    await failStep(env.app.sql, id.a as string);
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'FAILED', b: 'CANCELLED', c: 'CANCELLED' });
    expect((await q.workflows.get(wf.id))?.status).toBe('FAILED');
    // The trigger cannot know RESULT_TTL_MS: b and c end without an expiry…
    expect(await retentionOf(all)).toEqual({ [id.a as string]: 60_000, [id.b as string]: null, [id.c as string]: null });

    // … and the cleaner's next round gives them one, counted from their end, deleting nothing yet.
    const c = cleaner();
    expect(await c.runOnce()).toBe(0);
    expect(await retentionOf(all)).toEqual({ [id.a as string]: 60_000, [id.b as string]: TTL_MS, [id.c as string]: 5000 });
    expect((await q.getTask(id.b as string))?.expiresAt).toEqual(expect.any(Date));

    expect(await c.runOnce(inMs(10_000))).toBe(1); // c, its own 5 s
    expect(await c.runOnce(inMs(2 * TTL_MS))).toBe(2); // a and b
    expect(await q.getTasks(all)).toEqual([]);
    expect(await eventCount(all)).toBe(0);
    expect(await q.workflows.get(wf.id)).toBeUndefined();
  });

  it("a cancelled workflow's step released as CANCELLED is stamped and deleted, and the workflow with it", async () => {
    const q = env.app.deps.queue;
    const wf = await q.workflows.enqueue({ steps: [step('a'), step('b', ['a'])] });
    const id = idsOf(wf);
    const a = await claimStep(env.app.sql, id.a as string);
    // The workflow is cancelled while b is held by another transaction (its sweep skips b)…
    expect(await markWorkflowCancelled(env.app.sql, wf.id, null)).toBe(true);
    // … then a ends: the trigger releases b into the cancelled workflow, CANCELLED.
    expect(await completeTasks(env.app.sql, WORKER, [{ id: a.id, attempt: a.attempts, returnValue: 'null' }], 60_000)).toHaveLength(1);
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ a: 'SUCCEEDED', b: 'CANCELLED' });
    expect(await retentionOf([id.b as string])).toEqual({ [id.b as string]: null });

    const c = cleaner();
    expect(await c.runOnce()).toBe(0);
    expect(await retentionOf([id.b as string])).toEqual({ [id.b as string]: TTL_MS });
    expect(await c.runOnce(inMs(2 * TTL_MS))).toBe(2);
    expect(await q.getTasks([id.a, id.b] as string[])).toEqual([]);
    expect(await q.workflows.get(wf.id)).toBeUndefined();
  });

  it('repairs rows an older taskwire left without an expiry: a plain task, and the steps that kept a workflow', async () => {
    const q = env.app.deps.queue;
    const wf = await q.workflows.enqueue({ name: 'old', steps: [step('a'), step('b', ['a']), step('c', ['b'])] });
    const id = idsOf(wf);
    await failStep(env.app.sql, id.a as string);
    // As an old database holds them: a deleted long ago, b and c ended two days ago without an expiry.
    await env.app.sql`DELETE FROM tasks WHERE id = ${id.a as string}`;
    await env.app.sql`UPDATE tasks SET finished_at = now() - interval '2 days' WHERE id IN (${id.b as string}, ${id.c as string})`;
    const plain = await insertTask(env.app.sql, { status: 'CANCELLED' });
    await env.app.sql`UPDATE tasks SET finished_at = now() - interval '2 days', expires_at = NULL WHERE id = ${plain.id}`;
    // A task in flight and a waiting one are left alone.
    const running = await insertTask(env.app.sql, { status: 'RUNNING' });
    const pending = await insertTask(env.app.sql, { status: 'PENDING' });

    expect(await cleaner().runOnce()).toBe(3); // stamped in the past: deleted in the same round
    expect(await q.getTasks([id.b, id.c, plain.id] as string[])).toEqual([]);
    expect(await q.workflows.get(wf.id)).toBeUndefined();
    const left = await q.getTasks([running.id, pending.id]);
    expect(left.map((t) => [t.status, t.expiresAt])).toEqual([
      ['RUNNING', null],
      ['PENDING', null],
    ]);
  });

  it('finds them through tasks_finished_without_expiry_idx, which holds no task in flight nor one ended with its expiry', async () => {
    await insertTask(env.app.sql, { status: 'PENDING' });
    await insertTask(env.app.sql, { status: 'RUNNING' });
    await insertTask(env.app.sql, { status: 'SUCCEEDED' });
    await insertTask(env.app.sql, { status: 'FAILED' });
    await insertTask(env.app.sql, { status: 'CANCELLED' });
    // A history of finished tasks, each with its expiry: the stamp must not read through it.
    await env.app.deps.queue.enqueueMany(Array.from({ length: 5000 }, () => ({ name: 'demo.echo', runAfter: inMs(3_600_000) })));
    await env.app.sql`
      UPDATE tasks SET status = 'SUCCEEDED', finished_at = now(), expires_at = now() + interval '1 day'
      WHERE status = 'PENDING' AND run_after > now() + interval '1 minute'`;
    await env.app.sql`ANALYZE tasks`;
    const [entries] = await env.app.sql`
      SELECT count(*)::int AS n FROM tasks WHERE finished_at IS NOT NULL AND expires_at IS NULL`;
    expect(entries?.n).toBe(0);
    const [index] = await env.app.sql`
      SELECT i.indisvalid AS valid, pg_get_expr(i.indpred, i.indrelid) AS predicate
      FROM pg_index i WHERE i.indexrelid = 'tasks_finished_without_expiry_idx'::regclass`;
    expect(index).toEqual({ valid: true, predicate: '((finished_at IS NOT NULL) AND (expires_at IS NULL))' });
    const plans = await explainedPlans(env.app.database.url, (c) => stampMissingExpiry(c, { defaultTtlMs: TTL_MS, limit: 1000 }));
    expect(plans.at(-1)).toContain('Index Scan using tasks_finished_without_expiry_idx');
    expect(plans.at(-1)?.join(' ')).not.toMatch(/Seq Scan on tasks/);
  });

  it('stamps nothing while another process holds the cleaner lock, and keeps no lock', async () => {
    const lock = 0x7a5c_1e98;
    const task = await insertTask(env.app.sql, { status: 'CANCELLED' });
    await env.app.sql`UPDATE tasks SET expires_at = NULL WHERE id = ${task.id}`;
    const holder = postgres(env.app.database.url, { max: 1, onnotice: () => undefined });
    try {
      const session = await holder.reserve();
      await session`SELECT pg_advisory_lock(${lock})`;
      try {
        expect(await stampMissingExpiry(env.app.sql, { defaultTtlMs: TTL_MS, limit: 10, lockKey: lock })).toBe(0);
      } finally {
        await session`SELECT pg_advisory_unlock(${lock})`;
        session.release();
      }
    } finally {
      await holder.end();
    }
    expect(await stampMissingExpiry(env.app.sql, { defaultTtlMs: TTL_MS, limit: 10, lockKey: lock })).toBe(1);
    expect(await retentionOf([task.id])).toEqual({ [task.id]: TTL_MS });
    const [held] = await env.app.sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ${lock}`;
    expect(held?.n).toBe(0);
  });
});
