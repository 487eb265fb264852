import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createBulkActionRunner } from '../../src/queue/bulk-actions/runner.js';
import { createCleaner } from '../../src/queue/maintenance/cleaner.js';
import { createRescuer } from '../../src/queue/maintenance/rescuer.js';
import { createScheduler } from '../../src/queue/schedules/scheduler.js';
import { createAppMetrics } from '../../src/metrics/app-metrics.js';
import type { Service } from '../../src/service.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';
import { readMetrics, sampleValue } from './metric-values.js';

// The background services' rounds in /metrics, from services running on their own timers (as in a
// worker process), against the real statements.
const env = useQueueTestApp();
const NO_FAN_OUT = { subscriptions: 0, events: 0, readQueries: 0, delivered: 0, reconnects: 0 };

/** The four services on short timers, observed by a metrics registry; stopped (and unobserved) by the returned function. */
async function running(): Promise<{ value(family: string, labels?: Record<string, string>): Promise<number | undefined>; stop(): Promise<void> }> {
  const { sql } = env.app;
  const rescuer = createRescuer({ sql, log: silentLogger, resultTtlMs: 60_000, intervalMs: 20 });
  const cleaner = createCleaner({ sql, log: silentLogger, resultTtlMs: 60_000, intervalMs: 20 });
  const scheduler = createScheduler({ sql, log: silentLogger, pollIntervalMs: 50 });
  const bulk = createBulkActionRunner({ sql, log: silentLogger, resultTtlMs: 60_000, pollIntervalMs: 20 });
  const metrics = createAppMetrics({ queue: env.app.deps.queue, stats: NO_FAN_OUT, log: silentLogger, maintenance: [rescuer, cleaner, scheduler, bulk] });
  const services: Service[] = [rescuer, cleaner, scheduler, bulk];
  for (const s of services) await s.start();
  return {
    value: async (family, labels) => sampleValue(await readMetrics(metrics.registry), family, labels),
    async stop() {
      for (const s of services) await s.stop();
      metrics.close();
    },
  };
}

describe('/metrics: the background services', () => {
  it('counts each service\'s rounds, stamps its last good one, and counts what the cleaner, the scheduler and bulk actions did', async () => {
    const before = Date.now() / 1000;
    const expired = [];
    for (let i = 0; i < 3; i++) expired.push(await insertTask(env.app.sql, { status: 'SUCCEEDED', resultTtlMs: 0 }));
    const pending = await env.app.deps.queue.enqueueMany([1, 2].map(() => ({ name: 'demo.echo', queue: 'bulk-metrics', runAfter: new Date(Date.now() + 3_600_000) })));
    // Matched, processed, not changed: a finished task is no cancel's to count.
    await insertTask(env.app.sql, { status: 'SUCCEEDED', queue: 'bulk-metrics' });
    await env.app.deps.queue.schedules.upsert({ key: 'metrics-tick', cron: '* * * * * *', task: { name: 'demo.echo' } });
    const m = await running();
    try {
      const action = await env.app.deps.queue.bulkActions.create('CANCEL', { queue: 'bulk-metrics' });
      for (const service of ['rescuer', 'cleaner', 'scheduler', 'bulk-actions']) {
        await waitFor(async () => ((await m.value('taskwire_maintenance_rounds_total', { service, result: 'ok' })) ?? 0) >= 1, { message: `a round of ${service}` });
        expect(await m.value('taskwire_maintenance_last_success_timestamp_seconds', { service })).toBeGreaterThanOrEqual(Math.floor(before));
      }
      await waitFor(async () => (await m.value('taskwire_tasks_deleted_total')) === expired.length, { message: 'the expired tasks counted as deleted' });
      await waitFor(async () => (await env.app.deps.queue.bulkActions.get(action.id))?.status === 'DONE', { message: 'the bulk action done' });
      expect(await env.app.deps.queue.bulkActions.get(action.id)).toMatchObject({ processed: pending.length + 1, changed: pending.length });
      await waitFor(async () => (await m.value('taskwire_bulk_action_tasks_total')) !== undefined, { message: 'the cancelled tasks counted' });
      expect(await m.value('taskwire_bulk_action_tasks_total')).toBe(pending.length);
      // A schedule of every second fires within about one (the poll wakes at its next run).
      await waitFor(async () => ((await m.value('taskwire_schedule_occurrences_total', { result: 'fired' })) ?? 0) >= 1, { message: 'an occurrence fired' });
      expect(await m.value('taskwire_maintenance_rounds_total', { service: 'cleaner', result: 'failed' })).toBeUndefined();
    } finally {
      await m.stop();
      await env.app.deps.queue.schedules.delete('metrics-tick');
    }
  });

  it('counts failed rounds, and keeps the last good one\'s time while rounds fail', async () => {
    const services = ['rescuer', 'cleaner', 'scheduler', 'bulk-actions'];
    const m = await running();
    const rounds = async (service: string, result: string): Promise<number> => (await m.value('taskwire_maintenance_rounds_total', { service, result })) ?? 0;
    const lastGood = (service: string): Promise<number | undefined> => m.value('taskwire_maintenance_last_success_timestamp_seconds', { service });
    try {
      for (const service of services) await waitFor(async () => (await rounds(service, 'ok')) >= 1, { message: `a good round of ${service}` });
      // What each reads first, gone: the rescuer and the cleaner read tasks, the scheduler schedules, bulk actions theirs.
      await env.app.sql`ALTER TABLE tasks RENAME TO tasks_away`;
      await env.app.sql`ALTER TABLE schedules RENAME TO schedules_away`;
      await env.app.sql`ALTER TABLE bulk_actions RENAME TO bulk_actions_away`;
      const good = new Map<string, number | undefined>();
      try {
        for (const service of services) {
          // Read once a round has failed: one that began before the rename may still have ended well, after that none does.
          await waitFor(async () => (await rounds(service, 'failed')) >= 1, { message: `a failed round of ${service}` });
          good.set(service, await lastGood(service));
        }
        for (const service of services) {
          await waitFor(async () => (await rounds(service, 'failed')) >= 3, { message: `more failed rounds of ${service}` });
          expect(await lastGood(service)).toBe(good.get(service));
        }
      } finally {
        await env.app.sql`ALTER TABLE tasks_away RENAME TO tasks`;
        await env.app.sql`ALTER TABLE schedules_away RENAME TO schedules`;
        await env.app.sql`ALTER TABLE bulk_actions_away RENAME TO bulk_actions`;
      }
      for (const service of services) {
        await waitFor(async () => ((await lastGood(service)) ?? 0) > (good.get(service) ?? 0), { message: `a good round of ${service} again` });
      }
    } finally {
      await m.stop();
    }
  });
});
