import { describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client.js';
import { listTasks } from '../../src/queue/list.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { completeTasks } from '../../src/queue/sql/complete-tasks.js';
import { createDependencyReader } from '../../src/worker/dependencies.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';
import { claimStep, idsOf, succeedStep, WORKER } from '../helpers/workflows.js';

// Results are stored as json in return_value_json (drizzle/0042); a result recorded before, or by a
// worker of an older taskwire (whose taskwire_complete overloads stay), is in return_value (jsonb).
// Every reader takes either, and the batch's results land on their own tasks.
const env = useQueueTestApp();
const TTL_MS = 60_000;
const VALUE = { text: 'é ✓ "quoted" \\ \n\ttab', list: [1, 2.5, -0.125, null, true, false, ''], nested: { empty: {}, none: [] } };

/** An older worker's completion: drizzle/0041's taskwire_complete, results as one jsonb object keyed by `id:attempt`. */
async function completeAsOlderWorker(sql: Sql, workerId: string, id: string, value: unknown): Promise<string | null> {
  const byAttempt = JSON.stringify({ [`${id}:1`]: value });
  const [row] = await sql`SELECT recorded FROM taskwire_complete(${workerId}::text, ${`{${id}}`}::uuid[], ${byAttempt}::jsonb, ${TTL_MS}::bigint, NULL::uuid[])`;
  return (row?.recorded as string | null | undefined) ?? null;
}

/** Which column holds each task's result: 'json', 'jsonb', both or none. */
async function columnsOf(sql: Sql, ids: readonly string[]): Promise<string[]> {
  const rows = await sql`
    SELECT concat_ws('+', CASE WHEN t.return_value_json IS NOT NULL THEN 'json' END, CASE WHEN t.return_value IS NOT NULL THEN 'jsonb' END) AS held
    FROM unnest(${ids as string[]}::uuid[]) WITH ORDINALITY AS w(id, o) JOIN tasks t ON t.id = w.id ORDER BY w.o`;
  return rows.map((r) => String(r.held));
}

describe('results as json (drizzle/0042)', () => {
  it('reads a result recorded as jsonb by an older worker as one recorded now, by id and in a page of the history', async () => {
    const { sql, deps } = env.app;
    const queue = 'rj-read';
    const older = await insertTask(sql, { status: 'RUNNING', queue, workerId: 'w-old' });
    const newer = await insertTask(sql, { status: 'RUNNING', queue, workerId: 'w-new' });
    const none = await insertTask(sql, { status: 'RUNNING', queue, workerId: 'w-new' });
    expect(await completeAsOlderWorker(sql, 'w-old', older.id, VALUE)).toBe(older.id);
    expect(
      await completeTasks(sql, 'w-new', [
        { id: newer.id, attempt: 1, returnValue: JSON.stringify(VALUE) },
        { id: none.id, attempt: 1, returnValue: 'null' },
      ], TTL_MS),
    ).toEqual([newer.id, none.id]);
    // A JSON null is stored as no result (SQL NULL), as before.
    expect(await columnsOf(sql, [older.id, newer.id, none.id])).toEqual(['jsonb', 'json', '']);

    for (const id of [older.id, newer.id]) expect((await deps.queue.getTask(id))?.returnValue).toEqual(VALUE);
    expect((await deps.queue.getTask(none.id))?.returnValue).toBeNull();
    const page = await listTasks(sql, { first: 10, filter: { queue } });
    expect(page.tasks.map((t) => [t.id, t.status, t.returnValue])).toEqual([
      [none.id, 'SUCCEEDED', null],
      [newer.id, 'SUCCEEDED', VALUE],
      [older.id, 'SUCCEEDED', VALUE],
    ]);
  });

  it('gives a step its parents’ results whichever column holds them', async () => {
    const { sql, deps } = env.app;
    const s = (ref: string, dependsOn: string[] = []) => ({ ref, task: { name: 'demo.echo', args: [ref] }, dependsOn });
    const wf = await deps.queue.workflows.enqueue({ steps: [s('old'), s('new'), s('child', ['old', 'new'])] });
    const id = idsOf(wf);
    await claimStep(sql, id.old as string);
    expect(await completeAsOlderWorker(sql, WORKER, id.old as string, { from: 'jsonb' })).toBe(id.old);
    await succeedStep(sql, id.new as string, { from: 'json', value: VALUE });
    expect(await columnsOf(sql, [id.old as string, id.new as string])).toEqual(['jsonb', 'json']);
    const child = await deps.queue.getTask(id.child as string);
    expect(child?.status).toBe('PENDING');
    expect(await createDependencyReader(sql).read(child!)).toEqual({ old: { from: 'jsonb' }, new: { from: 'json', value: VALUE } });
  });

  it('stores each result of a batch on its own task, the text as sent, past late completions in the middle of the batch', async () => {
    const { sql, deps } = env.app;
    const queue = 'rj-batch';
    const tasks = await deps.queue.enqueueMany(Array.from({ length: 300 }, () => ({ name: 'test.record', queue })));
    const claimed = await claimTasks(sql, { workerId: 'w-batch', limit: 300, queues: [queue], leaseMs: TTL_MS });
    expect(claimed).toHaveLength(300);
    const others = await insertTask(sql, { status: 'RUNNING', queue: 'rj-other', workerId: 'w-else' });
    // Each value names its task's place; a large one (~200 KB, escapes and non-ASCII) in the middle.
    const large = { s: 'ü"\\\n'.repeat(50_000) };
    const valueOf = (i: number): unknown => (i === 150 ? large : { i, text: `task ${i}` });
    const completions = tasks.map((t, i) => ({ id: t.id, attempt: 1, returnValue: JSON.stringify(valueOf(i)) }));
    // Not this worker's (another's task, an attempt the task is not at): dropped, the rest in place.
    completions.splice(100, 0, { id: others.id, attempt: 1, returnValue: '"not mine"' });
    completions.splice(200, 0, { id: tasks[5]!.id, attempt: 2, returnValue: '"a later attempt"' });
    const recorded = await completeTasks(sql, 'w-batch', completions, TTL_MS);
    expect(new Set(recorded)).toEqual(new Set(tasks.map((t) => t.id)));
    const stored = await sql`
      SELECT w.o, t.return_value_json::text AS text FROM unnest(${tasks.map((t) => t.id)}::uuid[]) WITH ORDINALITY AS w(id, o)
      JOIN tasks t ON t.id = w.id ORDER BY w.o`;
    expect(stored.map((r) => r.text)).toEqual(tasks.map((_, i) => JSON.stringify(valueOf(i))));
    expect((await deps.queue.getTask(tasks[150]!.id))?.returnValue).toEqual(large);
    expect((await deps.queue.getTask(others.id))?.status).toBe('RUNNING');
  });

  it('records nothing for a task whose value the array lacks (a JSON null is a value)', async () => {
    const { sql } = env.app;
    const [a, b, c] = [
      await insertTask(sql, { status: 'RUNNING', queue: 'rj-short', workerId: 'w-short' }),
      await insertTask(sql, { status: 'RUNNING', queue: 'rj-short', workerId: 'w-short' }),
      await insertTask(sql, { status: 'RUNNING', queue: 'rj-short', workerId: 'w-short' }),
    ];
    const [row] = await sql`
      SELECT recorded FROM taskwire_complete('w-short'::text, ${`{${a.id},${b.id},${c.id}}`}::uuid[], '{1,1,1}'::int[], '[7, null]'::json, ${TTL_MS}::bigint, NULL::uuid[])`;
    expect(String(row?.recorded).split(',').sort()).toEqual([a.id, b.id].sort());
    expect(await columnsOf(sql, [a.id, b.id, c.id])).toEqual(['json', '', '']);
    expect((await sql`SELECT status FROM tasks WHERE id = ${c.id}`)[0]?.status).toBe('RUNNING');
  });
});
