import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/client.js';
import { createQueue, type Queue } from '../../src/queue/index.js';
import { createRegistry } from '../../src/worker/registry.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { BAD_DECLARED_SCHEDULE_TASKS } from '../helpers/bad-declared-schedule-tasks.js';
import { DECLARED_SCHEDULE_TASKS, nightly } from '../helpers/declared-schedule-tasks.js';
import { spawnTaskwire, type TaskwireProcess } from '../helpers/taskwire-process.js';
import { runCli } from './run-cli.js';

// `taskwire worker` syncs the schedules its task modules declare before it claims: a deploy that
// changes a declared schedule updates it, and a pause made at run time stays.
let database: TestDatabase;
let db: Db;
let queue: Queue;
let worker: TaskwireProcess | undefined;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { max: 2 });
  queue = createQueue({ sql: db.sql, catalog: createRegistry([nightly]), resultTtlMs: 60_000, maxArgsBytes: 262_144 });
});
afterAll(async () => {
  await worker?.stop();
  await db?.close();
  await database?.drop();
});

describe('taskwire worker with declared schedules', () => {
  it('creates the new ones and updates a changed one at start, keeping its runtime pause', async () => {
    // What an earlier deploy declared, then paused over the API.
    await queue.schedules.upsert({ key: 'declared-nightly', cron: '0 1 * * *', task: { name: 'declared.nightly', args: [0] } });
    await queue.schedules.pause('declared-nightly');

    worker = spawnTaskwire(['worker'], { DATABASE_URL: database.url, TASK_MODULES: DECLARED_SCHEDULE_TASKS, SCHEDULER_ENABLED: 'false', DB_POOL_SIZE: '3' });
    const synced = await worker.waitForLog((l) => l.msg === 'declared schedules synced');
    expect(synced).toMatchObject({ created: ['declared-hourly'], updated: ['declared-nightly'], unchanged: [] });
    await worker.waitForLog((l) => l.msg === 'taskwire ready');

    expect(await queue.schedules.get('declared-nightly')).toMatchObject({ cron: '0 4 * * *', timezone: 'America/New_York', args: [1], queue: 'declared', paused: true });
    expect(await queue.schedules.get('declared-hourly')).toMatchObject({ cron: '15 * * * *', overlap: 'SKIP', paused: false, taskName: 'declared.nightly' });
    expect(await worker.stop()).toBe(0);
    worker = undefined;
  });

  it('stops with one line naming the schedule, the task and what is wrong (exit 2) when the core refuses a declaration', async () => {
    const env = { DATABASE_URL: database.url, DATABASE_LISTEN_URL: '', TASK_MODULES: BAD_DECLARED_SCHEDULE_TASKS, SCHEDULER_ENABLED: 'false', LOG_LEVEL: 'warn', METRICS_PORT: '' };
    const result = await runCli(['worker'], env, 60_000);
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe(
      'taskwire: Schedule "bad.sched" declared by task bad.sched: timezone must be an IANA time zone such as "Europe/Paris", got "Mars/Olympus"',
    );
    expect(await queue.schedules.get('bad.sched')).toBeUndefined();
  });
});
