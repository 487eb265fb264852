import { afterAll, beforeAll, expect, it } from 'vitest';
import { listTasks } from '../../src/queue/list.js';
import { queueStats } from '../../src/queue/stats.js';
import { explainedPlans } from '../helpers/explained-plans.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';

// The plans of history reads on a table with statistics, shaped as a long-lived queue's: most tasks
// SUCCEEDED, a few FAILED among them, the newest ones waiting, and a small queue beside the big one.
// A read must walk an index that holds its rows, not the table past every row it filters out.
let app: QueueTestApp;

beforeAll(async () => {
  app = await createQueueTestApp();
  for (let i = 0; i < 8; i++) {
    await app.deps.queue.enqueueMany(Array.from({ length: 2500 }, () => ({ name: 'demo.echo', runAfter: new Date(Date.now() + 3_600_000) })));
  }
  await app.deps.queue.enqueueMany(Array.from({ length: 300 }, () => ({ name: 'demo.echo', queue: 'small', runAfter: new Date(Date.now() + 3_600_000) })));
  // The oldest 16,000 finished (every 40th FAILED); the newest 4,000 still wait.
  await app.sql`
    UPDATE tasks SET status = (CASE WHEN n % 40 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END)::task_status, finished_at = now()
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM tasks) o
    WHERE o.id = tasks.id AND o.n <= 16000`;
  // Eight names over five queues, each name on one queue only: names and queues are correlated.
  await app.sql`
    UPDATE tasks SET name = 'n' || h, queue = 'q' || (h % 5)
    FROM (SELECT id, abs(hashtext(id::text)) % 8 AS h FROM tasks WHERE queue = 'default') o WHERE o.id = tasks.id`;
  await app.sql`ANALYZE tasks`;
});

afterAll(async () => {
  await app?.close();
});

it('lists one status other than SUCCEEDED by tasks_status_not_succeeded_idx, in id order, not by a walk of the primary key', async () => {
  const plans = await explainedPlans(app.database.url, (c) => listTasks(c, { first: 20, filter: { status: ['FAILED'] } }));
  const page = plans.find((nodes) => nodes[0] === 'Limit');
  expect(page).toEqual(['Limit', 'Index Scan using tasks_status_not_succeeded_idx']);
  const listed = await listTasks(app.sql, { first: 20, filter: { status: ['FAILED'] } });
  expect(listed.tasks).toHaveLength(20);
  expect(listed.tasks.every((t) => t.status === 'FAILED')).toBe(true);
  expect(listed.tasks.map((t) => t.id)).toEqual(listed.tasks.map((t) => t.id).sort().reverse());
});

it("counts one queue's stats (a pause's answer) by tasks_queue_id_idx, not by a scan of every queue's tasks", async () => {
  const plans = await explainedPlans(app.database.url, (c) => queueStats(c, null, 'small'));
  const nodes = plans.flat();
  expect(nodes).not.toContain('Seq Scan on tasks');
  expect(nodes.some((n) => n.endsWith('using tasks_queue_id_idx'))).toBe(true);
  const [small, ...others] = await queueStats(app.sql, null, 'small');
  expect(others).toEqual([]);
  expect(small).toMatchObject({ queue: 'small', counts: { PENDING: 300, SUCCEEDED: 0 } });
  const paused = await app.deps.queue.queueControl.pause('small');
  expect(paused).toMatchObject({ name: 'small', paused: true, stats: { queue: 'small', counts: { PENDING: 300 } } });
  await app.deps.queue.queueControl.resume('small');
});

it('reads a name and a queue that never meet through their indexes, not by a walk of the primary key through every task', async () => {
  // n1 runs on q1 only: the pair (n1, q2) has no task, which the statistics of the pairs (drizzle/0032)
  // tell the planner. Without them it expected 1/8 × 1/5 of the table and walked tasks_pkey to the end.
  const plans = await explainedPlans(app.database.url, (c) => listTasks(c, { first: 20, filter: { name: 'n1', queue: 'q2' } }));
  const page = plans.find((nodes) => nodes[0] === 'Limit');
  expect(page).not.toContain('Index Scan using tasks_pkey');
  // The pair's candidates by an index (the name's, or a BitmapAnd of both as the sizes go), then sorted.
  expect(page?.slice(0, 3)).toEqual(['Limit', 'Sort', 'Bitmap Heap Scan on tasks']);
  expect((await listTasks(app.sql, { first: 20, filter: { name: 'n1', queue: 'q2' } })).tasks).toEqual([]);
  expect((await listTasks(app.sql, { first: 20, filter: { name: 'n1', queue: 'q1' } })).tasks).toHaveLength(20);
});
