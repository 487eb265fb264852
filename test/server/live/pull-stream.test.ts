import { describe, expect, it } from 'vitest';
import type { Task } from '../../../src/queue/index.js';
import { EventStream } from '../../../src/server/live/event-stream.js';
import { TaskStream } from '../../../src/server/live/task-stream.js';

// PullStream.park: the graphql-ws pump's wait at the stream itself (shared-results.ts ReadyResults).
// A parked consumer must be woken by the next value or the end, once, and never after return().

class Events extends EventStream<number> {
  drained = 0;
  closes = 0;
  constructor(max?: number) {
    super(max);
  }
  add(n: number): boolean {
    return this.push(n);
  }
  protected onDrained(): void {
    this.drained += 1;
  }
  protected onClose(): void {
    this.closes += 1;
  }
}

class Tasks extends TaskStream {
  protected onClose(): void {}
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PullStream.park', () => {
  it('wakes an event stream consumer once, in a microtask after the producer, with every value queued', async () => {
    const stream = new Events();
    const woken: number[][] = [];
    const wake = (): void => {
      const got: number[] = [];
      for (let v = stream.takeQueued(); v !== undefined; v = stream.takeQueued()) got.push(v);
      woken.push(got);
    };
    expect(stream.park(wake)).toBe(true);
    stream.add(1);
    stream.add(2);
    expect(woken).toEqual([]); // not inside the producer's loop
    await flush();
    expect(woken).toEqual([[1, 2]]);
    stream.add(3); // not parked again: kept for the next take
    await flush();
    expect(woken).toEqual([[1, 2]]);
    expect(stream.takeQueued()).toBe(3);
  });

  it('wakes a task stream consumer synchronously, in the producer call', () => {
    const stream = new Tasks();
    const seen: number[] = [];
    const wake = (): void => {
      for (let t = stream.takeQueued(); t !== undefined; t = stream.takeQueued()) seen.push(t.version);
      stream.park(wake);
    };
    expect(stream.park(wake)).toBe(true);
    stream.push({ id: 't', version: 2, status: 'RUNNING' } as Task);
    expect(seen).toEqual([2]);
    stream.push({ id: 't', version: 3, status: 'SUCCEEDED' } as Task);
    expect(seen).toEqual([2, 3]);
  });

  it('wakes on the end, then refuses to park; the end comes through next()', async () => {
    const stream = new Events();
    let woken = 0;
    expect(stream.park(() => (woken += 1))).toBe(true);
    stream.end();
    await flush();
    expect(woken).toBe(1);
    expect(stream.park(() => (woken += 1))).toBe(false);
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect(stream.closes).toBe(1);
  });

  it('never wakes after return(), and refuses while a next() waits', async () => {
    const stream = new Events();
    let woken = 0;
    expect(stream.park(() => (woken += 1))).toBe(true);
    await stream.return();
    stream.add(1);
    stream.end();
    await flush();
    expect(woken).toBe(0);

    const waitedOn = new Events();
    const next = waitedOn.next();
    expect(waitedOn.park(() => (woken += 1))).toBe(false);
    waitedOn.add(7);
    expect(await next).toEqual({ value: 7, done: false });
    expect(woken).toBe(0);
  });

  it('asks its owner to re-read when it parks after lagging, as a next() finding it empty does', async () => {
    const stream = new Events(2);
    expect(stream.add(1)).toBe(true);
    expect(stream.add(2)).toBe(true);
    expect(stream.add(3)).toBe(false); // full: lagging
    expect(stream.takeQueued()).toBe(1);
    expect(stream.takeQueued()).toBe(2);
    expect(stream.drained).toBe(0);
    expect(stream.park(() => undefined)).toBe(true);
    expect(stream.drained).toBe(1);
  });
});
