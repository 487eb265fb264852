import { describe, expect, it } from 'vitest';
import type { Task } from '../../../src/queue/index.js';
import { PendingStep } from '../../../src/server/live/ready-step.js';
import { TaskStream } from '../../../src/server/live/task-stream.js';

class Stream extends TaskStream {
  protected onClose(): void {}
}

describe('PendingStep', () => {
  it('runs the callbacks chained on it when it settles, in the settling call, layer after layer', () => {
    const step = new PendingStep<number>();
    const seen: string[] = [];
    step
      .then((n) => n + 1)
      .then((n) => {
        seen.push(`second ${n}`);
        return n * 10;
      })
      .then((n) => seen.push(`third ${n}`));
    seen.push('chained');
    step.resolve(1);
    seen.push('resolved');
    expect(seen).toEqual(['chained', 'second 2', 'third 20', 'resolved']);
    // Settled: a callback chained now runs at once.
    let late = 0;
    step.then((n) => (late = n));
    expect(late).toBe(1);
  });

  it('a throwing callback rejects the next step, which catch and the second then argument handle', () => {
    const step = new PendingStep<number>();
    const seen: unknown[] = [];
    const failed = step.then(() => {
      throw new Error('boom');
    });
    failed.then(
      () => seen.push('fulfilled'),
      (e: unknown) => seen.push((e as Error).message),
    );
    (failed as PendingStep<never>).catch(() => seen.push('caught'));
    step.resolve(1);
    expect(seen).toEqual(['boom', 'caught']);
  });

  it('adopts a promise a callback returns, and is awaited like a promise', async () => {
    const step = new PendingStep<number>();
    const chained = step.then((n) => Promise.resolve(n + 1));
    step.resolve(1);
    await expect(chained).resolves.toBe(2);
    await expect(step).resolves.toBe(1);
    const rejected = new PendingStep<number>();
    rejected.reject(new Error('no'));
    await expect(rejected).rejects.toThrow('no');
  });
});

describe('TaskStream wakes a waiting consumer synchronously', () => {
  it('a state pushed to a waiting consumer reaches its chain before push returns; the end too', async () => {
    const stream = new Stream();
    const got: string[] = [];
    const pull = (): void => {
      void stream.next().then((s) => {
        if (s.done) got.push('done');
        else {
          got.push(s.value.status);
          pull();
        }
      });
    };
    pull();
    stream.push({ id: 't1', status: 'RUNNING', version: 2 } as Task);
    expect(got).toEqual(['RUNNING']);
    stream.push({ id: 't1', status: 'SUCCEEDED', version: 3 } as Task);
    stream.end();
    expect(got).toEqual(['RUNNING', 'SUCCEEDED', 'done']);
    // Still an async iterator for whoever awaits it.
    const other = new Stream();
    const next = other.next();
    other.push({ id: 't2', status: 'PENDING', version: 1 } as Task);
    await expect(next).resolves.toMatchObject({ done: false, value: { id: 't2' } });
  });
});
