import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOccurrences, parseCron } from '../../src/queue/schedules/cron.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { startSchedulerChild, type SchedulerChild } from '../helpers/scheduler-children.js';
import { waitFor } from '../helpers/wait.js';

// Five scheduler processes race on a per-second schedule; every few seconds one is SIGKILLed
// (mid-statement or not) and a new one started. Exactly one task per occurrence, none missing
// between the first and the last, counted against the cron. SCHEDULE_KILL_LONG=1: a minute.
const RUN_MS = process.env.SCHEDULE_KILL_LONG ? 60_000 : 20_000;
const PROCESSES = 5;
const KILL_EVERY_MS = 3_000;
const CHILD_ENV = { SCHEDULER_POLL_INTERVAL_MS: '1000' };

let app: QueueTestApp;
const children: SchedulerChild[] = [];
const logs: string[] = [];
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await Promise.all(children.map((c) => (c.child.exitCode === null && c.child.signalCode === null ? c.kill() : undefined)));
  await app.close();
});

async function spawnOne(): Promise<SchedulerChild> {
  const child = await startSchedulerChild(app.database.url, CHILD_ENV);
  children.push(child);
  return child;
}

describe('schedules under SIGKILL', () => {
  it(`fires each occurrence of a per-second schedule exactly once while ${PROCESSES} schedulers race and are killed every ${KILL_EVERY_MS / 1000} s`, async () => {
    await Promise.all(Array.from({ length: PROCESSES }, () => spawnOne()));
    const schedule = await app.deps.queue.schedules.upsert({ key: 'every-second', cron: '* * * * * *', task: { name: 'demo.echo' } });

    const started = Date.now();
    const replacements: Promise<SchedulerChild>[] = [];
    let kills = 0;
    while (Date.now() - started < RUN_MS) {
      await delay(KILL_EVERY_MS);
      const alive = children.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
      const victim = alive[Math.floor(Math.random() * alive.length)];
      if (!victim) continue;
      logs.push(victim.stderr());
      await victim.kill();
      kills += 1;
      replacements.push(spawnOne());
    }
    await Promise.all(replacements);
    // The last occurrence fired by a survivor before the stop: the range checked ends there.
    const end = Date.now();
    await waitFor(async () => {
      const [row] = await app.sql`SELECT max(scheduled_for) AS last FROM tasks WHERE schedule_id = ${schedule.id}`;
      return row?.last && new Date(row.last as Date).getTime() >= end - 1_000;
    }, { message: 'the occurrence of the last second', timeoutMs: 10_000 });
    const alive = children.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
    await Promise.all(alive.map(async (c) => {
      await c.stop();
      logs.push(c.stderr());
    }));

    const perOccurrence = await app.sql`
      SELECT scheduled_for, count(*)::int AS n FROM tasks WHERE schedule_id = ${schedule.id} GROUP BY scheduled_for ORDER BY scheduled_for`;
    const fired = perOccurrence.map((r) => new Date(r.scheduledFor as Date).getTime());
    const duplicates = perOccurrence.reduce((n, r) => n + (r.n as number) - 1, 0);
    const first = fired[0] as number;
    const last = fired[fired.length - 1] as number;
    const expected = nextOccurrences(parseCron('* * * * * *'), new Date(first - 1), (last - first) / 1000 + 1).map((d) => d.getTime());
    const firedSet = new Set(fired);
    const missing = expected.filter((t) => !firedSet.has(t));
    // Unique violations or failed rounds would show in the children's error logs.
    const errorLines = logs.join('').split('\n').filter((line) => /23505|duplicate key|unique index|round failed/.test(line));
    console.info(`schedules-kill: ${fired.length} occurrences over ${((last - first) / 1000).toFixed(0)} s, ${kills} SIGKILLs, duplicates ${duplicates}, missing ${missing.length}, error lines ${errorLines.length}`);

    expect(kills).toBeGreaterThanOrEqual(Math.floor(RUN_MS / KILL_EVERY_MS) - 1);
    expect(duplicates).toBe(0);
    expect(missing).toEqual([]);
    expect(errorLines).toEqual([]);
    expect(last - first).toBeGreaterThanOrEqual(RUN_MS - 5_000);
    expect(expected).toEqual(fired);
  }, RUN_MS + 120_000);
});
