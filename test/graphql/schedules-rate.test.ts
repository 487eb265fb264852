import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { RETRY_AFTER_MS, startGuardedServer, type GuardedServer } from '../helpers/guarded-server.js';

// triggerSchedule enqueues a task: it spends the principal's enqueue rate as enqueueTask does.
let app: TestApp;
let limited: GuardedServer;
beforeAll(async () => {
  app = await createTestApp();
  limited = await startGuardedServer(app, { enqueueBudget: 2 });
  await app.deps.queue.schedules.upsert({ key: 'rated', cron: '0 0 1 1 *', task: { name: 'demo.echo' } });
});
afterAll(async () => {
  await limited?.close();
  await app?.close();
});

const writer: Principal = { kind: 'api-key', id: 'schedule-writer', tenant: 'default', scopes: ['schedules:write', 'tasks:enqueue:demo.*'] };

describe('triggerSchedule and the enqueue rate', () => {
  it('answers RATE_LIMITED with retryAfterMs once the budget is spent, enqueueing nothing; upserts and pauses spend none', async () => {
    const c = limited.as(writer);
    for (let i = 0; i < 3; i++) {
      expect((await c.post('mutation { upsertSchedule(input: { key: "rated", cron: "0 0 1 1 *", task: { name: "demo.echo" } }) { key } }')).errors).toBeUndefined();
      expect((await c.post('mutation { pauseSchedule(key: "rated") { paused } }')).errors).toBeUndefined();
    }
    const trigger = () => c.post('mutation { triggerSchedule(key: "rated") { id } }');
    expect((await trigger()).errors).toBeUndefined();
    expect((await trigger()).errors).toBeUndefined();
    const before = await app.countTasks();
    const refused = await trigger();
    expect(refused.errors?.map((e) => [e.extensions?.code, e.extensions?.retryAfterMs])).toEqual([['RATE_LIMITED', RETRY_AFTER_MS]]);
    expect(await app.countTasks()).toBe(before);
  });
});
