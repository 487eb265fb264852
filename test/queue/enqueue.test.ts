import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { recordEvents } from '../helpers/events.js';

let app: TestApp;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(async () => {
  await app.close();
});

describe('enqueue', () => {
  it('stores a PENDING task at version 1 and announces it once', async () => {
    const recorder = await recordEvents(app.database.db.sql);
    const task = await app.deps.queue.enqueue({ name: 'math.copysign', args: [1, -1] });
    expect(task).toMatchObject({ name: 'math.copysign', status: 'PENDING', version: 1, attempts: 0, maxAttempts: 1, queue: 'default' });
    await recorder.waitFor((e) => e.id === task.id);
    expect(recorder.events.filter((e) => e.id === task.id)).toEqual([{ id: task.id, version: 1, status: 'PENDING' }]);
    await recorder.close();
  });
});
