import { describe, expect, it } from 'vitest';
import type { Task } from '../../../src/queue/index.js';
import type { TaskStatus } from '../../../src/queue/states.js';
import { TaskStream, TERMINAL_HEADROOM } from '../../../src/server/live/task-stream.js';

/** The stream as a filter subscription uses it, with a small cap. */
class Stream extends TaskStream {
  protected onClose(): void {}
}

function state(n: number, status: TaskStatus, version = status === 'RUNNING' ? 2 : 3): Task {
  // Only what the stream looks at: id and status (the rest is the hub's business).
  return { id: `t${n}`, status, version } as Task;
}

/** Everything queued, in delivery order, as `id:status`. */
async function drain(stream: Stream): Promise<string[]> {
  stream.end();
  const out: string[] = [];
  for await (const task of stream) out.push(`${task.id}:${task.status}`);
  return out;
}

describe('TaskStream (a slow consumer of many tasks)', () => {
  it('past its cap it drops the oldest unfinished state, never a terminal one', async () => {
    const stream = new Stream(4);
    stream.push(state(1, 'SUCCEEDED'));
    stream.push(state(2, 'RUNNING'));
    stream.push(state(3, 'SUCCEEDED'));
    stream.push(state(4, 'RUNNING'));
    stream.push(state(5, 'FAILED')); // over the cap: t2 (the oldest unfinished) goes
    stream.push(state(6, 'CANCELLED')); // then t4
    expect(await drain(stream)).toEqual(['t1:SUCCEEDED', 't3:SUCCEEDED', 't5:FAILED', 't6:CANCELLED']);
  });

  it('a task that ends while queued is no longer droppable, and keeps its place in the order', async () => {
    const stream = new Stream(3);
    stream.push(state(1, 'RUNNING'));
    stream.push(state(2, 'RUNNING'));
    stream.push(state(1, 'SUCCEEDED'));
    stream.push(state(3, 'RUNNING'));
    stream.push(state(4, 'RUNNING')); // over the cap: t2 goes, not t1 (it ended)
    expect(await drain(stream)).toEqual(['t1:SUCCEEDED', 't3:RUNNING', 't4:RUNNING']);
  });

  it('a burst of ends 5× its cap reaches the consumer whole (it lost 0–21 % of 20,000 before)', async () => {
    const cap = 100;
    const stream = new Stream(cap);
    const ends: string[] = [];
    for (let i = 0; i < cap * 5; i += 1) {
      stream.push(state(i, 'RUNNING'));
      stream.push(state(i, 'SUCCEEDED'));
      ends.push(`t${i}:SUCCEEDED`);
    }
    expect(await drain(stream)).toEqual(ends);
  });

  it('only a consumer TERMINAL_HEADROOM × its cap behind on ended tasks loses the oldest (memory stays bounded)', async () => {
    const cap = 10;
    const stream = new Stream(cap);
    const total = cap * TERMINAL_HEADROOM + 5;
    for (let i = 0; i < total; i += 1) stream.push(state(i, 'SUCCEEDED'));
    const got = await drain(stream);
    expect(got).toHaveLength(cap * TERMINAL_HEADROOM);
    expect(got[0]).toBe('t5:SUCCEEDED');
    expect(got.at(-1)).toBe(`t${total - 1}:SUCCEEDED`);
  });
});
