import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createScheduler, type Scheduler } from '../../src/queue/schedules/scheduler.js';
import type { MissedRunPolicy } from '../../src/queue/schedules/types.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';

// Real downtime: the scheduler service runs, stops (no process fires anything) for 5 s, and a
// new one starts. With a grace of 1.5 s those five per-second occurrences are missed, and each
// schedule's `missed` policy decides what happens to them.
const DOWNTIME_MS = 5_000;
const GRACE_MS = 1_500;

let app: QueueTestApp;
const running: Scheduler[] = [];
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await app.close();
});

async function startScheduler(): Promise<Scheduler> {
  const s = createScheduler({ sql: app.sql, log: silentLogger, misfireGraceMs: GRACE_MS, pollIntervalMs: 1_000, catchUpMax: 100 });
  running.push(s);
  await s.start();
  return s;
}

async function fired(scheduleId: string): Promise<number[]> {
  const rows = await app.sql`SELECT scheduled_for FROM tasks WHERE schedule_id = ${scheduleId} ORDER BY scheduled_for`;
  return rows.map((r) => new Date(r.scheduledFor as Date).getTime());
}

async function dbNow(): Promise<number> {
  const [row] = await app.sql`SELECT now() AS now`;
  return new Date(row?.now as Date).getTime();
}

describe('schedules after a scheduler downtime', () => {
  it('SKIP fires none of the missed occurrences, RUN_ONCE the latest, RUN_ALL each of them oldest first', async () => {
    const policies: MissedRunPolicy[] = ['SKIP', 'RUN_ONCE', 'RUN_ALL'];
    const schedules = await Promise.all(
      policies.map((missed) => app.deps.queue.schedules.upsert({ key: `down-${missed}`, cron: '* * * * * *', missed, task: { name: 'demo.echo' } })),
    );
    const first = await startScheduler();
    await waitFor(async () => (await Promise.all(schedules.map((s) => fired(s.id)))).every((f) => f.length >= 2), { message: 'two occurrences each' });
    await first.stop();
    const lastBefore = await Promise.all(schedules.map(async (s) => Math.max(...(await fired(s.id)))));

    await delay(DOWNTIME_MS); // the downtime itself: wall-clock time passing with no scheduler
    const restartedAt = await dbNow();
    await startScheduler();
    await waitFor(async () => (await Promise.all(schedules.map((s) => fired(s.id)))).every((f) => Math.max(...f) >= restartedAt + 1_000), {
      message: 'an occurrence after the restart',
    });

    // What each fired after its last occurrence before the stop: one task per second from the first on.
    const after = await Promise.all(schedules.map(async (s, i) => (await fired(s.id)).filter((t) => t > (lastBefore[i] as number))));
    for (const a of after) expect(a.slice(1).map((t, i) => t - (a[i] as number))).toEqual(a.slice(1).map(() => 1000));
    const [skip, once, all] = after as [number[], number[], number[]];
    const [skipFrom, onceFrom, allFrom] = lastBefore as [number, number, number];
    // SKIP: nothing until the first occurrence after the restart.
    expect(skip[0]).toBeGreaterThan(restartedAt);
    expect((skip[0] as number) - skipFrom).toBeGreaterThan(DOWNTIME_MS);
    // RUN_ONCE: one task for the latest missed occurrence (the second of the restart, or the next if
    // the restart's first round came after a second boundary), none for the others.
    expect([Math.floor(restartedAt / 1000) * 1000, Math.floor(restartedAt / 1000) * 1000 + 1000]).toContain(once[0]);
    expect((once[0] as number) - onceFrom).toBeGreaterThanOrEqual(DOWNTIME_MS);
    // RUN_ALL: every missed occurrence, oldest first: no gap at all.
    expect(all[0]).toBe(allFrom + 1000);
    expect(all.filter((t) => t <= restartedAt).length).toBeGreaterThanOrEqual(DOWNTIME_MS / 1000);
  }, 60_000);
});
