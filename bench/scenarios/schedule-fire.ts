import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import postgres from 'postgres';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { percentiles } from '../lib/stats.js';

const SCHEDULERS = 2;

/** Starts a scheduler process on `url`; resolves once it listens. */
function startScheduler(root: string, url: string): Promise<ChildProcess> {
  const child = fork(path.join(root, 'bench/lib/scheduler-child.ts'), [url], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`scheduler process exited with ${code} before it was ready`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/**
 * (k) Schedule fire latency: `scheduleCount` schedules of `* * * * * *` (each due every second),
 * two scheduler processes racing for them for `scheduleSeconds`. Latency is the occurrence
 * (scheduled_for) → its task's enqueued_at (the fire statement's transaction time), and → its
 * ENQUEUED event's clock_timestamp() (late in the statement, just before the commit). Also
 * counts occurrences fired twice (the unique index makes it impossible; any would show here as
 * an error logged by a scheduler) and occurrences missing between each schedule's first and last.
 */
export async function scheduleFireScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const { scheduleCount, scheduleSeconds } = job.sizes;
  for (let rep = 0; rep < job.repeat; rep++) {
    const database = await freshDatabase(job.adminUrl, job.template);
    const sql = postgres(database.url, { max: 2, onnotice: () => undefined });
    const children: ChildProcess[] = [];
    try {
      children.push(...(await Promise.all(Array.from({ length: SCHEDULERS }, () => startScheduler(job.root, database.url)))));
      // Due from the next whole second but one: both schedulers are listening by then.
      await sql`
        INSERT INTO schedules (id, key, cron, task_name, next_run_at)
        SELECT gen_random_uuid(), 'bench-' || i, '* * * * * *', 'demo.echo', date_trunc('second', now()) + interval '2 seconds'
        FROM generate_series(1, ${scheduleCount}) i`;
      await sql`SELECT pg_notify('taskwire_schedules', 'bench')`;
      await delay((scheduleSeconds + 2) * 1000);
      await Promise.all(children.map((c) => stop(c)));
      const rows = await sql`
        SELECT extract(epoch FROM t.enqueued_at - t.scheduled_for) * 1000 AS inserted_ms,
               extract(epoch FROM e.at - t.scheduled_for) * 1000 AS event_ms
        FROM tasks t JOIN task_events e ON e.task_id = t.id AND e.version = 1
        WHERE t.schedule_id IS NOT NULL`;
      const inserted = percentiles(rows.map((r) => Number(r.inserted_ms)));
      const event = percentiles(rows.map((r) => Number(r.event_ms)));
      const [gaps] = await sql`
        SELECT coalesce(sum(expected - fired), 0)::int AS missing, coalesce(sum(fired - distinct_fired), 0)::int AS duplicates FROM (
          SELECT schedule_id, count(*) AS fired, count(DISTINCT scheduled_for) AS distinct_fired,
                 extract(epoch FROM max(scheduled_for) - min(scheduled_for))::int + 1 AS expected
          FROM tasks WHERE schedule_id IS NOT NULL GROUP BY schedule_id) s`;
      rec.add(M.scheduleFireP50, 'ms', inserted.p50);
      rec.add(M.scheduleFireP99, 'ms', inserted.p99);
      rec.add(M.scheduleEventP99, 'ms', event.p99);
      rec.add(M.scheduleTasksPerSecond, 'tasks/s', rows.length / scheduleSeconds);
      rec.add(M.scheduleMissedOrRepeated, 'occurrences', Number(gaps?.missing) + Number(gaps?.duplicates));
      if (rep === 0) rec.notes.push(`schedule-fire: ${scheduleCount} schedules of * * * * * *, ${SCHEDULERS} scheduler processes, ${scheduleSeconds} s; ${rows.length} tasks`);
    } finally {
      await Promise.all(children.map((c) => stop(c).catch(() => undefined)));
      await sql.end();
      await database.drop();
    }
  }
}
