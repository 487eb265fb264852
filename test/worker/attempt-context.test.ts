import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTask } from '../../src/worker/define-task.js';
import { createTestApp, FAST_RUNNER, type TestApp } from '../helpers/app.js';
import { waitForStatus } from '../helpers/factories.js';
import { captureLog } from '../helpers/log-capture.js';

const { log, lines } = captureLog('debug');

// Logs in both orders ctx.log takes: taskwire's (message, fields) and pino's (fields, message?).
const bothOrders = defineTask({
  name: 'test.log-orders',
  run: (_args, ctx) => {
    ctx.log.info('message first', { order: 'taskwire' });
    ctx.log.info({ order: 'pino', apiKey: 'k-1' }, 'fields first');
    const { warn, error } = ctx.log;
    warn({ order: 'pino, no message' });
    error(new Error('boom'), 'an error first');
    ctx.log.debug('message alone');
    return 'done';
  },
});

let app: TestApp;

beforeAll(async () => {
  app = await createTestApp({ log, tasks: [bothOrders], runnerDefaults: FAST_RUNNER });
  await app.runner().start();
});
afterAll(async () => {
  await app?.close();
});

describe('AttemptContext.log', () => {
  it('logs a handler\'s fields in either order, (message, fields) or pino\'s (fields, message?), tagged with the task', async () => {
    const task = await app.deps.queue.enqueue({ name: 'test.log-orders' });
    await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    const handler = lines.filter((l) => l.taskId === task.id && l.msg !== 'task started' && l.msg !== 'task succeeded');
    expect(handler).toEqual([
      expect.objectContaining({ level: 30, msg: 'message first', order: 'taskwire', attempt: 1 }),
      expect.objectContaining({ level: 30, msg: 'fields first', order: 'pino', apiKey: 'k-1', attempt: 1 }),
      expect.objectContaining({ level: 40, order: 'pino, no message' }),
      expect.objectContaining({ level: 50, msg: 'an error first', err: expect.objectContaining({ message: 'boom', type: 'Error' }) }),
      expect.objectContaining({ level: 20, msg: 'message alone' }),
    ]);
    expect(handler[2]).not.toHaveProperty('msg');
  });
});
