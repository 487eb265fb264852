import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, taskInput } from '../../src/worker/define-task.js';
import { createQueueTestApp, waitForStatus, type QueueTestApp } from '../helpers/factories.js';

// taskInput: the compiler checks a definition's arguments (the package test type-checks a consumer
// of the built types); here, that what it builds is the enqueue a user would have written by hand,
// and that the queue still checks the arguments at run time (a cast gets past the compiler).
const resize = defineTask({
  name: 'typed.resize',
  args: z.tuple([z.string(), z.number().int()]),
  kwargs: z.object({ quality: z.number().default(80) }),
  run: async ([file, width], ctx) => ({ file, width, quality: ctx.kwargs.quality }),
});

let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp({}, [resize]);
});
afterAll(async () => {
  await app?.close();
});

describe('taskInput', () => {
  it('enqueues the definition by its name with the options given, and the handler gets the parsed arguments', async () => {
    const task = await app.deps.queue.enqueue(taskInput(resize, ['a.png', 640], { kwargs: {}, priority: 7, queue: 'images', maxAttempts: 2 }));
    expect(task).toMatchObject({ name: 'typed.resize', args: ['a.png', 640], kwargs: {}, priority: 7, queue: 'images', maxAttempts: 2 });
    await app.startRunner({ queues: ['images'] });
    const done = await waitForStatus(app.deps, task.id, 'SUCCEEDED');
    // The kwargs' default (quality 80) was filled in by the schema before the handler ran.
    expect(done.returnValue).toEqual({ file: 'a.png', width: 640, quality: 80 });
  });

  it('types the arguments from the definition alone: a call does not widen them to what it passes', () => {
    const charge = defineTask({ name: 'typed.charge', args: z.tuple([z.number(), z.enum(['ok', 'fail'])]), run: ([amount]) => amount });
    expect(taskInput(charge, [10, 'ok']).args).toEqual([10, 'ok']);
    // @ts-expect-error not a member of the enum (compiled while the call's types widened the definition's)
    taskInput(charge, [10, 'maybe']);
    // @ts-expect-error one argument more than the tuple
    taskInput(charge, [10, 'ok', 'extra']);
    // @ts-expect-error a keyword argument the definition's kwargs (none: an empty object schema) do not type
    taskInput(resize, ['a.png', 640], { kwargs: { quality: 'high' } });
  });

  it('leaves the arguments to the queue\'s check at run time: a cast past the compiler is INVALID_ARGUMENTS naming the path', async () => {
    const cast = ['a.png', 'wide'] as unknown as [string, number];
    await expect(app.deps.queue.enqueue(taskInput(resize, cast))).rejects.toMatchObject({ code: 'INVALID_ARGUMENTS', field: 'args[1]' });
  });
});
