import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type OutputChunk, type Task, type TaskEvent, type TaskwireClient } from '../../src/client/index.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

let server: TestServer;
let client: TaskwireClient;
let gates: Gates;

beforeAll(async () => {
  gates = createGates();
  // Claiming ahead is on (the runner's default 10 ms): the RUNNING of a 1 ms task lasts less than
  // a read, the state a conflated stream skips.
  server = await startTestServer({ tasks: gates.tasks, runner: {} });
  client = createClient({ url: server.url, retry: { baseMs: 20, maxMs: 200 } });
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of iterable) all.push(item);
  return all;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('watch from a version', () => {
  it('yields PENDING, RUNNING, SUCCEEDED of 1 ms tasks, every version once, watched while they run and after they finished', async () => {
    const tasks = await Promise.all(range(1, 20).map((i) => client.enqueue('math.copysign', [i, -1])));
    const watched = await Promise.all(tasks.map((t) => collect(client.watch(t.id, { afterVersion: 0 }))));
    const late = await collect(client.watch(tasks[0]!.id, { afterVersion: 0 }));
    for (const [i, states] of [...watched, late].entries()) {
      const id = i < tasks.length ? tasks[i]!.id : tasks[0]!.id;
      expect(states.map((s) => [s.version, s.status, s.attempts])).toEqual([
        [1, 'PENDING', 0],
        [2, 'RUNNING', 1],
        [3, 'SUCCEEDED', 1],
      ]);
      expect(states.every((s) => s.id === id)).toBe(true);
      // The final state is the row itself, return value and all.
      expect(states.at(-1)).toEqual(await client.get(id));
    }
    expect(late.at(-1)!.returnValue).toBe(-1);
  });

  it('yields only what follows the version given, and nothing after the end', async () => {
    const task = await client.enqueue('test.steps', ['from-version', 1]);
    const first = client.watch(task.id, { afterVersion: task.version });
    const running = await first.next();
    expect(running.value).toMatchObject({ version: 2, status: 'RUNNING', progress: null });
    gates.open('from-version:1');
    expect((await first.next()).value).toMatchObject({ version: 3, status: 'RUNNING', progress: { current: 1, total: 1 } });
    gates.open('from-version:done');
    const rest = await collect(first);
    expect(rest.map((s) => [s.version, s.status])).toEqual([[4, 'SUCCEEDED']]);
    expect(rest[0]).toMatchObject({ returnValue: { steps: 1 }, isFinished: true });
    // Resumed from the middle: the states after it, replayed; resumed from the end: nothing.
    expect((await collect(client.watch(task.id, { afterVersion: 2 }))).map((s) => [s.version, s.progress?.current ?? null])).toEqual([
      [3, 1],
      [4, 1],
    ]);
    expect(await collect(client.watch(task.id, { afterVersion: 4 }))).toEqual([]);
  });

  it('keeps every attempt\'s error in the states of a retried task', async () => {
    const task = await client.enqueue('demo.fail', ['again'], { maxAttempts: 2 });
    const states = await collect(client.watch(task.id, { afterVersion: 0 }));
    expect(states.map((s) => [s.status, s.attempts, s.errors.length])).toEqual([
      ['PENDING', 0, 0],
      ['RUNNING', 1, 0],
      ['RETRYING', 1, 1],
      ['RUNNING', 2, 1],
      ['FAILED', 2, 2],
    ]);
    expect(states[2]!.errors[0]).toMatchObject({ attempt: 1, exceptionType: 'DemoFailure', message: 'again' });
  });
});

describe('a task deleted by its retention right at its end', () => {
  /**
   * A client whose re-read of the task at its terminal event comes after the cleaner has run: the
   * read goes to the real server, which answers null, as for a consumer slower than a resultTtlMs
   * of 0 (what a tester saw with the cleaner every 0.4 s). The read itself shows that the terminal
   * event had reached the client.
   */
  function slowReader(id: string): TaskwireClient {
    return createClient({
      url: server.url,
      retry: { baseMs: 20, maxMs: 200 },
      fetch: async (input, init) => {
        const body = typeof init?.body === 'string' ? init.body : '';
        const status = body.includes('GetTask') ? (await server.deps.queue.getTask(id))?.status : undefined;
        if (status === 'SUCCEEDED' || status === 'FAILED' || status === 'CANCELLED') {
          // resultTtlMs 0: due for deletion as soon as it finished.
          await server.deps.cleaner.runOnce(new Date(Date.now() + 1000));
        }
        return fetch(input, init);
      },
    });
  }

  it('watch() ends with the terminal state its events told, not NOT_FOUND; wait() says why it has no result', async () => {
    const task = await client.enqueue('test.gate', ['deleted-at-end'], { resultTtlMs: 0, maxAttempts: 1 });
    const reader = slowReader(task.id);
    try {
      const states: Task[] = [];
      const watching = (async () => {
        for await (const state of reader.watch(task.id)) {
          states.push(state);
          if (state.status === 'RUNNING') gates.open('deleted-at-end');
        }
      })();
      await watching;
      // PENDING first unless the worker was quicker than the first read.
      expect(states.map((s) => s.status).filter((status) => status !== 'PENDING')).toEqual(['RUNNING', 'SUCCEEDED']);
      expect(await server.deps.queue.getTask(task.id)).toBeUndefined();
      // Before: RequestError NOT_FOUND instead of the last state (the row read at the end).
      expect(states.at(-1)).toMatchObject({ status: 'SUCCEEDED', isFinished: true, version: 3 });
    } finally {
      await reader.close();
    }

    const again = await client.enqueue('test.gate', ['deleted-at-end-2'], { resultTtlMs: 0, maxAttempts: 1 });
    const waiter = slowReader(again.id);
    try {
      const result = waiter.wait(again.id, { onUpdate: (state) => state.status === 'RUNNING' && gates.open('deleted-at-end-2') });
      await expect(result).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/succeeded and was deleted \(its resultTtlMs\) before its return value was read/) });
    } finally {
      await waiter.close();
    }
  });
});

describe('events', () => {
  it('yields the raw log, the same live and read back in pages, and filtered by type', async () => {
    const task = await client.enqueue('demo.fail', ['logged'], { maxAttempts: 2 });
    const live = await collect(client.events(task.id));
    expect(live.map((e) => [e.version, e.type, e.status, e.attempt])).toEqual([
      [1, 'ENQUEUED', 'PENDING', 0],
      [2, 'STARTED', 'RUNNING', 1],
      [3, 'RETRY_SCHEDULED', 'RETRYING', 1],
      [4, 'STARTED', 'RUNNING', 2],
      [5, 'FAILED', 'FAILED', 2],
    ]);
    expect(live[2]!.error).toMatchObject({ attempt: 1, message: 'logged' });
    expect(live[1]!.workerId).toEqual(expect.any(String));
    expect(await collect(client.events(task.id, { follow: false }))).toEqual(live);
    // A filter that leaves out the terminal event still ends when the task does.
    const started = await collect(client.events(task.id, { types: ['STARTED'] }));
    expect(started.map((e) => e.version)).toEqual([2, 4]);
    expect((await collect(client.events(task.id, { types: ['STARTED'], afterVersion: 2, follow: false }))).map((e) => e.version)).toEqual([4]);
  });

  it('ends at once after the last version of a finished task; an unknown id is NOT_FOUND both ways', async () => {
    const task = await client.enqueue('math.copysign', [2, 2]);
    await client.wait(task.id, { timeoutMs: 10_000 });
    expect(await collect(client.events(task.id, { afterVersion: 3 }))).toEqual([]);
    const missing = '01900000-0000-7000-8000-000000000000';
    for (const follow of [true, false]) {
      await expect(collect(client.events(missing, { follow }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    await expect(collect(client.events(task.id, { afterVersion: -1 }))).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'afterVersion' });
  });
});

describe('output', () => {
  const texts = (chunks: OutputChunk[]): unknown[] => chunks.map((c) => c.data);
  const expected = range(1, 200).map((i) => ({ i, text: `chunk ${i} of 200` }));

  it('streams the 200 chunks of demo.output in order, and a late reader gets the same', async () => {
    const task = await client.enqueue('demo.output', [200, 1]);
    const live = await collect(client.output(task.id));
    expect(texts(live)).toEqual(expected);
    expect(live.every((c, i) => i === 0 || c.version > live[i - 1]!.version)).toBe(true);
    expect(live.every((c) => c.attempt === 1)).toBe(true);

    const finished = await client.get(task.id);
    expect(finished).toMatchObject({ status: 'SUCCEEDED', returnValue: { count: 200 } });
    expect(await collect(client.output(task.id))).toEqual(live);
    expect(await collect(client.output(task.id, { follow: false }))).toEqual(live);
    // Resumed after the 100th chunk: the other 100.
    expect(texts(await collect(client.output(task.id, { afterVersion: live[99]!.version })))).toEqual(expected.slice(100));
  });

  it('numbers the runs: a snoozed run keeps its attempt, and the chunks of the run after it come under the next run', async () => {
    const task = await client.enqueue('test.rerun', ['client-rerun']);
    const live = await collect(client.output(task.id));
    expect(live.map((c) => [c.data, c.attempt, c.run])).toEqual([
      [{ i: 1 }, 1, 1],
      [{ i: 2 }, 1, 1],
      [{ i: 1 }, 1, 2],
    ]);
    const events = await collect(client.events(task.id));
    expect(events.map((e) => e.type)).toContain('SNOOZED');
    // An empty list of types is every type, as on the server.
    expect(await collect(client.events(task.id, { types: [] }))).toEqual(events);
    expect(await collect(client.events(task.id, { types: [], follow: false }))).toEqual(events);
    expect(await collect(client.output(task.id, { follow: false }))).toEqual(live);
    // Resumed after the first run's last chunk: the run is still counted from the task's first event.
    expect(await collect(client.output(task.id, { afterVersion: live[1]!.version }))).toEqual(live.slice(2));
    expect(await collect(client.output(task.id, { afterVersion: live[1]!.version, follow: false }))).toEqual(live.slice(2));
  });

  it('a watch of a task with output skips the OUTPUT versions and still ends with its final state', async () => {
    const task = await client.enqueue('demo.output', [5, 0]);
    const states: Task[] = await collect(client.watch(task.id, { afterVersion: 0 }));
    const events: TaskEvent[] = await collect(client.events(task.id));
    expect(events.filter((e) => e.type === 'OUTPUT')).toHaveLength(5);
    expect(states.map((s) => s.version)).toEqual(events.filter((e) => e.type !== 'OUTPUT').map((e) => e.version));
    expect(states.at(-1)).toMatchObject({ status: 'SUCCEEDED', returnValue: { count: 5 }, version: events.at(-1)!.version });
  });
});
