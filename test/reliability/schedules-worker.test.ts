import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/client.js';
import { createQueue } from '../../src/queue/index.js';
import { exampleTasks } from '../../src/worker/examples.js';
import { createRegistry } from '../../src/worker/registry.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { spawnTaskwire, type TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';

// The scheduler as `taskwire worker` runs it: a per-second schedule upserted from another process
// is fired by the workers' schedulers and run by their runners; SCHEDULER_ENABLED=false keeps a
// worker's scheduler off.
let database: TestDatabase;
let db: Db;
const processes: TaskwireProcess[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { max: 2 });
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await db?.close();
  await database?.drop();
});

function worker(env: Record<string, string> = {}): TaskwireProcess {
  const p = spawnTaskwire(['worker'], { DATABASE_URL: database.url, WORKER_POLL_INTERVAL_MS: '100', DB_POOL_SIZE: '3', ...env });
  processes.push(p);
  return p;
}

describe('the scheduler in taskwire worker', () => {
  it('fires each occurrence once across two worker processes, and their runners run the tasks', async () => {
    const off = worker({ SCHEDULER_ENABLED: 'false' });
    await off.waitForLog((l) => l.msg === 'taskwire ready');
    const queue = createQueue({ sql: db.sql, catalog: createRegistry(exampleTasks), resultTtlMs: 60_000, maxArgsBytes: 262_144 });
    const schedule = await queue.schedules.upsert({ key: 'tick', cron: '* * * * * *', task: { name: 'math.copysign', args: [2, -1] } });
    // Only the worker without a scheduler runs: two occurrences pass and nothing fires.
    const passed = (schedule.nextRunAt as Date).getTime() + 1_500;
    await waitFor(async () => {
      const [row] = await db.sql`SELECT now() AS now`;
      return new Date(row?.now as Date).getTime() > passed;
    }, { message: 'two occurrences to pass on the database clock' });
    const [before] = await db.sql`SELECT count(*)::int AS n FROM tasks`;
    expect(before?.n).toBe(0);

    const on = [worker(), worker()];
    await Promise.all(on.map((p) => p.waitForLog((l) => l.msg === 'taskwire ready')));
    const done = await waitFor(async () => {
      const rows = await db.sql`SELECT scheduled_for, status, return_value_json AS return_value FROM tasks WHERE schedule_id = ${schedule.id} AND status = 'SUCCEEDED' ORDER BY scheduled_for`;
      return rows.length >= 3 ? rows : undefined;
    }, { message: 'three occurrences run', timeoutMs: 30_000 });
    expect(done.every((r) => r.returnValue === -2)).toBe(true);
    const [dup] = await db.sql`SELECT count(*) - count(DISTINCT scheduled_for) AS n FROM tasks WHERE schedule_id = ${schedule.id}`;
    expect(Number(dup?.n)).toBe(0);
    // The occurrences that passed before a scheduler ran were late, not missed: fired too, from the first on.
    const [first] = await db.sql`SELECT min(scheduled_for) AS at FROM tasks WHERE schedule_id = ${schedule.id}`;
    expect(new Date(first?.at as Date).getTime()).toBe(schedule.nextRunAt?.getTime());
  }, 90_000);
});
