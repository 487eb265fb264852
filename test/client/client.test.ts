import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConnectionError,
  createClient,
  RequestError,
  TaskCancelledError,
  TaskFailedError,
  TaskwireClientError,
  WaitTimeoutError,
  type Task,
  type TaskwireClient,
} from '../../src/client/index.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { CLOSED_URL } from '../cli/run-cli.js';
import { waitFor } from '../helpers/wait.js';

let server: TestServer;
let client: TaskwireClient;
let gates: Gates;

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: gates.tasks, runner: {} });
  client = createClient({ url: server.url, retry: { baseMs: 20, maxMs: 200 } });
});

afterAll(async () => {
  await client?.close();
  await server?.close();
});

/** The rejection of `promise`, which must reject. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const inAnHour = (): Date => new Date(Date.now() + 3_600_000);

describe('enqueue and get', () => {
  it('enqueues a task and reads it back by id', async () => {
    const task = await client.enqueue('math.copysign', [1, -1], { queue: 'client-get', priority: 5, maxAttempts: 2, runAfter: inAnHour() });
    expect(task).toMatchObject({ name: 'math.copysign', args: [1, -1], kwargs: {}, queue: 'client-get', priority: 5, maxAttempts: 2, status: 'PENDING', version: 1 });
    expect(await client.get(task.id)).toEqual(task);
  });

  it('answers null for an id that does not exist, and BAD_USER_INPUT for one that is not a UUID', async () => {
    expect(await client.get('01900000-0000-7000-8000-000000000000')).toBeNull();
    const error = await rejectionOf(client.get('nope'));
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });

  it('turns GraphQL errors into typed errors with the code and field from extensions', async () => {
    const before = await server.countTasks();
    const unknown = await rejectionOf(client.enqueue('no.such.task', []));
    expect(unknown).toBeInstanceOf(RequestError);
    expect(unknown).toMatchObject({ code: 'UNKNOWN_TASK', field: 'input.name' });
    const invalid = await rejectionOf(client.enqueue('math.copysign', [1, 'x']));
    expect(invalid).toMatchObject({ code: 'INVALID_ARGUMENTS' });
    expect((invalid as RequestError).field).toMatch(/args/);
    const range = await rejectionOf(client.enqueue('demo.echo', [], { priority: 1000 }));
    expect(range).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.priority' });
    expect(await server.countTasks()).toBe(before);
  });

  it('refuses arguments JSON would change or cannot send, naming them, before any request', async () => {
    const before = await server.countTasks();
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const cases: [unknown[], string, RegExp][] = [
      [[1, Number.NaN], 'input.args[1]', /NaN/],
      [[10n], 'input.args[0]', /BigInt/],
      [[{ a: [() => 1] }], 'input.args[0].a[0]', /function/],
      [[new Map([[1, 2]])], 'input.args[0]', /Map/],
      [[new Uint8Array(2)], 'input.args[0]', /typed array/],
      [[cycle], 'input.args[0].self', /cycle/],
    ];
    for (const [args, field, message] of cases) {
      const error = await rejectionOf(client.enqueue('demo.echo', args));
      // The caller's value, not the connection: ConnectionError said "Cannot reach" for a BigInt.
      expect(error).not.toBeInstanceOf(ConnectionError);
      expect(error).toBeInstanceOf(TaskwireClientError);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENTS', field });
      expect((error as Error).message).toMatch(message);
    }
    const kwargs = await rejectionOf(client.enqueue('demo.echo', [], { kwargs: { n: Number.POSITIVE_INFINITY } }));
    expect(kwargs).toMatchObject({ code: 'INVALID_ARGUMENTS', field: 'input.kwargs.n' });
    expect(await server.countTasks()).toBe(before);
    // A Date is sent as its toJSON, as the server's encoding does.
    const dated = await client.enqueue('demo.echo', [new Date('2030-01-01T00:00:00Z')], { runAfter: inAnHour() });
    expect(dated.args).toEqual(['2030-01-01T00:00:00.000Z']);
  });

  it('gives a null read token while auth is off, and refuses createReadToken with FORBIDDEN', async () => {
    const { task, readToken } = await client.enqueue('demo.echo', [1], { runAfter: inAnHour(), readToken: true });
    expect(task).toMatchObject({ name: 'demo.echo', status: 'PENDING' });
    expect(readToken).toBeNull();
    expect(await rejectionOf(client.createReadToken(task.id))).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('returns the first task for a repeated idempotency key', async () => {
    const first = await client.enqueue('demo.echo', [1], { idempotencyKey: 'client-key-1', runAfter: inAnHour() });
    const again = await client.enqueue('demo.echo', [1], { idempotencyKey: 'client-key-1', runAfter: inAnHour() });
    expect(again.id).toBe(first.id);
  });
  it('enqueueMany stores every item in order with its options, or none of them, naming the bad item', async () => {
    const runAfter = inAnHour();
    const tasks = await client.enqueueMany([
      { name: 'math.copysign', args: [2, -1], runAfter },
      { name: 'demo.echo', kwargs: { k: 'v' }, queue: 'client-many', priority: 3, runAfter: runAfter.toISOString() },
    ]);
    expect(tasks.map((t) => [t.name, t.queue, t.priority, t.status, t.runAfter])).toEqual([
      ['math.copysign', 'default', 0, 'PENDING', runAfter.toISOString()],
      ['demo.echo', 'client-many', 3, 'PENDING', runAfter.toISOString()],
    ]);
    // The payloads are read with get(): a batch's answer leaves them out.
    expect(tasks[0]).not.toHaveProperty('args');
    expect(await client.get(tasks[0]!.id)).toMatchObject({ ...tasks[0], args: [2, -1] });
    expect((await client.get(tasks[1]!.id))?.kwargs).toEqual({ k: 'v' });

    const before = await server.countTasks();
    const bad = await rejectionOf(client.enqueueMany([{ name: 'demo.echo', runAfter }, { name: 'math.copysign', args: [1, 'x'], runAfter }]));
    expect(bad).toBeInstanceOf(RequestError);
    expect(bad).toMatchObject({ code: 'INVALID_ARGUMENTS', field: expect.stringMatching(/^inputs\[1\]\.args/) });
    // Checked before sending, with a code and the field, as the server would name it.
    expect(await rejectionOf(client.enqueueMany([{ name: 'demo.echo' }, { name: 'demo.echo', runAfter: new Date('nope') }]))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'inputs[1].runAfter',
    });
    expect(await rejectionOf(client.enqueue('demo.echo', [], { runAfter: new Date('nope') }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.runAfter' });
    expect(await server.countTasks()).toBe(before);
  });
});

describe('list', () => {
  it('follows cursors page by page, newest first, and stops at the limit', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await client.enqueue('demo.echo', [i], { queue: 'client-list', runAfter: inAnHour() })).id);
    const newestFirst = [...ids].reverse();

    const pages = [];
    for await (const page of client.list({ queue: 'client-list' }, { pageSize: 3, count: true })) pages.push(page);
    expect(pages.map((p) => p.tasks.length)).toEqual([3, 3, 1]);
    expect(pages.flatMap((p) => p.tasks.map((t) => t.id))).toEqual(newestFirst);
    expect(pages[0]!.totalCount).toBe(7);
    expect(pages[1]!.totalCount).toBeUndefined();
    expect(pages.map((p) => p.hasNextPage)).toEqual([true, true, false]);

    const limited = [];
    for await (const page of client.list({ queue: 'client-list' }, { pageSize: 3, limit: 5 })) limited.push(page.tasks.length);
    expect(limited).toEqual([3, 2]);

    const resumed = [];
    for await (const page of client.list({ queue: 'client-list' }, { pageSize: 100, after: pages[0]!.endCursor! })) resumed.push(...page.tasks.map((t) => t.id));
    expect(resumed).toEqual(newestFirst.slice(3));
  });

  it('filters by status and name; an oversized page is BAD_USER_INPUT', async () => {
    const cancelled = await client.enqueue('demo.echo', ['c'], { queue: 'client-filter', runAfter: inAnHour() });
    await client.enqueue('demo.echo', ['p'], { queue: 'client-filter', runAfter: inAnHour() });
    await client.cancel(cancelled.id);
    const found: Task[] = [];
    for await (const page of client.list({ queue: 'client-filter', status: ['CANCELLED'], name: 'demo.echo' })) found.push(...page.tasks);
    expect(found.map((t) => t.id)).toEqual([cancelled.id]);

    const error = await rejectionOf(client.list({}, { pageSize: 101 }).next());
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'pageSize' });
  });

  it('refuses a pageSize outside 1..100, or a limit that is not a count, naming the option, before any request', async () => {
    const requests: string[] = [];
    const counting = createClient({
      url: server.url,
      fetch: (input, init) => {
        requests.push(String(input));
        return fetch(input, init);
      },
    });
    try {
      for (const options of [{ pageSize: 0 }, { pageSize: 101 }, { pageSize: 2.5 }, { pageSize: Number.NaN }, { limit: -1 }, { limit: 1.5 }]) {
        const error = await rejectionOf(counting.list({}, options).next());
        expect(error).toBeInstanceOf(TaskwireClientError);
        expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: Object.keys(options)[0] });
      }
      expect(await rejectionOf(counting.list({}, { pageSize: 0 }).next())).toMatchObject({ message: 'pageSize must be an integer from 1 to 100, got 0' });
      expect(requests).toEqual([]);
      // The bounds themselves, and a limit of 0 (nothing to list) or Infinity (the default), are fine.
      for (const options of [{ pageSize: 1, limit: 1 }, { pageSize: 100 }, { limit: 0 }, { limit: Number.POSITIVE_INFINITY }]) {
        await counting.list({ queue: 'client-no-such-queue' }, options).next();
      }
    } finally {
      await counting.close();
    }
  });

  it('refuses timeouts and retry settings that are not whole milliseconds in range, and URLs of another scheme, naming them', async () => {
    const error = await rejectionOf(client.wait('01900000-0000-7000-8000-000000000000', { timeoutMs: -1 }));
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'timeoutMs' });
    for (const [options, field] of [
      [{ requestTimeoutMs: 0 }, 'requestTimeoutMs'],
      [{ keepAliveMs: Number.NaN }, 'keepAliveMs'],
      [{ retry: { attempts: -1 } }, 'retry.attempts'],
      [{ retry: { maxMs: 2 ** 31 } }, 'retry.maxMs'],
      [{ url: 'ftp://127.0.0.1/graphql' }, 'url'],
      [{ url: '127.0.0.1:4000/graphql' }, 'url'],
      [{ wsUrl: 'http://127.0.0.1:4000/graphql' }, 'wsUrl'],
      [{ url: 'http://ci:hunter2@127.0.0.1:4000/graphql' }, 'url'],
    ] as const) {
      expect(() => createClient({ url: server.url, ...options })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', field }));
    }
    expect(() => createClient({ url: 'http://ci:hunter2@127.0.0.1:4000/graphql' })).toThrow(/must not carry a user or password .*"http:\/\/ci:\*\*\*@127\.0\.0\.1:4000\/graphql"$/);
    await createClient({ url: server.url, retry: { attempts: Number.POSITIVE_INFINITY } }).close();
  });
});

describe('watch and wait', () => {
  it('watches every state in version order and ends after the terminal state', async () => {
    const task = await client.enqueue('test.steps', ['client-watch', 2]);
    const states: Task[] = [];
    for await (const state of client.watch(task.id)) {
      states.push(state);
      // Each gate opens only once the watcher has seen the state before it: every state is observable.
      if (state.status === 'RUNNING' && state.progress === null) gates.open('client-watch:1');
      if (state.progress?.current === 1) gates.open('client-watch:2');
      if (state.progress?.current === 2) gates.open('client-watch:done');
    }
    const versions = states.map((s) => s.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(states.slice(-4).map((s) => [s.status, s.progress?.current ?? null])).toEqual([
      ['RUNNING', null],
      ['RUNNING', 1],
      ['RUNNING', 2],
      ['SUCCEEDED', 2],
    ]);
  });

  it('wait resolves to the return value', async () => {
    const task = await client.enqueue('math.copysign', [1, -1]);
    const updates: string[] = [];
    expect(await client.wait<number>(task.id, { timeoutMs: 10_000, onUpdate: (t) => updates.push(t.status) })).toBe(-1);
    expect(updates.at(-1)).toBe('SUCCEEDED');
  });

  it('wait throws TaskFailedError carrying every attempt\'s error', async () => {
    const task = await client.enqueue('demo.fail', ['boom'], { maxAttempts: 2 });
    const error = await rejectionOf(client.wait(task.id, { timeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(TaskFailedError);
    const failed = error as TaskFailedError;
    expect(failed.code).toBe('TASK_FAILED');
    expect(failed.errors.map((e) => [e.attempt, e.exceptionType, e.message])).toEqual([
      [1, 'DemoFailure', 'boom'],
      [2, 'DemoFailure', 'boom'],
    ]);
    expect(failed.task).toMatchObject({ id: task.id, status: 'FAILED', attempts: 2 });
  });

  it('wait throws WaitTimeoutError with the last state seen; the task runs on and can be cancelled', async () => {
    const task = await client.enqueue('test.gate', ['client-never']);
    const running = client.watch(task.id);
    for await (const state of running) if (state.status === 'RUNNING') break;

    const error = await rejectionOf(client.wait(task.id, { timeoutMs: 300 }));
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ code: 'WAIT_TIMEOUT', timeoutMs: 300, task: { id: task.id, status: 'RUNNING' } });

    const waiting = client.wait(task.id);
    const cancelled = await client.cancel(task.id);
    expect(cancelled).toMatchObject({ status: 'RUNNING', cancelRequested: true });
    const cancelError = await rejectionOf(waiting);
    expect(cancelError).toBeInstanceOf(TaskCancelledError);
    expect(cancelError).toMatchObject({ code: 'TASK_CANCELLED', task: { status: 'CANCELLED' } });
  });

  it('watching an unknown id is NOT_FOUND, in the words the server uses for it whichever way it is asked', async () => {
    const missing = '01900000-0000-7000-8000-000000000000';
    const error = await rejectionOf(client.wait(missing, { timeoutMs: 5000 }));
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    // The server's own answer (cancelTask), and the client's, which learns of it from a null.
    const byServer = (await rejectionOf(client.cancel(missing))) as RequestError;
    const drain = async (stream: AsyncIterable<unknown>): Promise<void> => {
      for await (const _ of stream);
    };
    const answers = await Promise.all([
      rejectionOf(client.wait(missing, { afterVersion: 0 })),
      rejectionOf(drain(client.watch(missing))),
      rejectionOf(drain(client.events(missing))),
      rejectionOf(drain(client.events(missing, { follow: false }))),
      rejectionOf(drain(client.output(missing))),
      rejectionOf(drain(client.output(missing, { follow: false }))),
    ]);
    expect(answers.map((e) => [(e as RequestError).code, (e as RequestError).field, (e as RequestError).message])).toEqual(
      Array.from({ length: answers.length }, () => ['NOT_FOUND', 'id', byServer.message]),
    );
    expect((error as RequestError).message).toBe(byServer.message);
  });

  it('wait with afterVersion passes onUpdate every state after it, also of a task that ended before the wait, with the same result', async () => {
    const task = await client.enqueue('demo.fail', ['early'], { maxAttempts: 2 });
    await rejectionOf(client.wait(task.id, { timeoutMs: 10_000 }));
    const updates: Task[] = [];
    const error = await rejectionOf(client.wait(task.id, { afterVersion: task.version, onUpdate: (t) => updates.push(t) }));
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({ task: { status: 'FAILED', attempts: 2 } });
    expect(updates.map((t) => [t.version, t.status, t.attempts, t.errors.length])).toEqual([
      [2, 'RUNNING', 1, 0],
      [3, 'RETRYING', 1, 1],
      [4, 'RUNNING', 2, 1],
      [5, 'FAILED', 2, 2],
    ]);
    // Nothing after the version given (the task ended there): no update, the result all the same.
    const after: Task[] = [];
    const atEnd = await rejectionOf(client.wait(task.id, { afterVersion: 5, onUpdate: (t) => after.push(t) }));
    expect(after).toEqual([]);
    expect(atEnd).toBeInstanceOf(TaskFailedError);
    expect(atEnd).toMatchObject({ task: { id: task.id, status: 'FAILED', version: 5 } });
    const ok = await client.enqueue('math.copysign', [2, -1]);
    await client.wait(ok.id, { timeoutMs: 10_000 });
    expect(await client.wait(ok.id, { afterVersion: 99 })).toBe(-2);
    expect(await rejectionOf(client.wait(ok.id, { afterVersion: -1 }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'afterVersion' });
    // watch() checks it as wait() does: NaN yielded nothing and ended, as if the task had.
    for (const afterVersion of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const first = client.watch(ok.id, { afterVersion }).next();
      expect(await rejectionOf(first), String(afterVersion)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'afterVersion' });
    }
  });

  it('a watch of a finished task gives its final state once', async () => {
    const task = await client.enqueue('demo.echo', ['done']);
    await client.wait(task.id, { timeoutMs: 10_000 });
    const states: Task[] = [];
    for await (const state of client.watch(task.id)) states.push(state);
    expect(states.map((s) => s.status)).toEqual(['SUCCEEDED']);
  });
});

describe('cancel and retry', () => {
  it('cancels a waiting task, retries it, and refuses what the state machine forbids', async () => {
    const task = await client.enqueue('demo.echo', [], { runAfter: inAnHour() });
    expect(await client.cancel(task.id)).toMatchObject({ id: task.id, status: 'CANCELLED', isFinished: true });
    expect(await client.retry(task.id)).toMatchObject({ id: task.id, status: 'PENDING' });
    expect(await rejectionOf(client.retry(task.id))).toMatchObject({ code: 'CONFLICT' });

    const done = await client.enqueue('math.copysign', [2, 3]);
    expect(await client.wait(done.id, { timeoutMs: 10_000 })).toBe(2);
    expect(await rejectionOf(client.cancel(done.id))).toMatchObject({ code: 'CONFLICT' });

    const missing = '01900000-0000-7000-8000-000000000001';
    expect(await rejectionOf(client.cancel(missing))).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    expect(await rejectionOf(client.retry(missing))).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
  });

  it('runNow makes a delayed task due now, and watch() shows the PROMOTED version with its new runAfter', async () => {
    const task = await client.enqueue('math.copysign', [5, -1], { runAfter: inAnHour() });
    expect(task.waitReason).toBe('SCHEDULED');
    const states: Task[] = [];
    const watching = (async () => {
      for await (const state of client.watch(task.id)) states.push(state);
    })();
    await waitFor(() => states.length > 0, { message: 'the watch to start' });
    const promoted = await client.runNow(task.id);
    expect(promoted).toMatchObject({ id: task.id, status: 'PENDING', version: 2 });
    expect(Date.parse(promoted.runAfter ?? '')).toBeLessThan(Date.parse(task.runAfter ?? '') - 1_800_000);
    expect(await client.wait(task.id, { timeoutMs: 10_000 })).toBe(-5);
    await watching;
    const second = states.find((s) => s.version === 2);
    expect(second).toMatchObject({ status: 'PENDING', runAfter: promoted.runAfter, waitReason: null });
    expect(states.map((s) => s.version)).toEqual([1, 2, 3, 4]);
    // Once it ran: a CONFLICT; an unknown id: NOT_FOUND.
    expect(await rejectionOf(client.runNow(task.id))).toMatchObject({ code: 'CONFLICT', field: 'id' });
    expect(await rejectionOf(client.runNow('01900000-0000-7000-8000-000000000001'))).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
  });

  it('queueStats counts tasks per queue', async () => {
    await client.enqueue('demo.echo', [], { queue: 'client-stats', runAfter: inAnHour() });
    const stats = await client.queueStats();
    expect(stats.find((q) => q.queue === 'client-stats')).toMatchObject({ pending: 1, total: 1 });
  });
});

describe('connection problems', () => {
  it('a refused connection is CONNECTION_FAILED; a URL that is not GraphQL is BAD_RESPONSE', async () => {
    const port = new URL(server.url).port;
    const refused = createClient({ url: CLOSED_URL });
    const error = await rejectionOf(refused.get('01900000-0000-7000-8000-000000000000'));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: 'CONNECTION_FAILED' });
    await refused.close();

    const wrongPath = createClient({ url: `http://127.0.0.1:${port}/not-graphql` });
    expect(await rejectionOf(wrongPath.queueStats())).toMatchObject({ code: 'BAD_RESPONSE' });
    await wrongPath.close();
  });

  it('a watch gives up with CONNECTION_FAILED when the server never comes back', async () => {
    const gone = createClient({ url: CLOSED_URL, retry: { attempts: 2, baseMs: 10, maxMs: 20 } });
    const error = await rejectionOf(gone.wait('01900000-0000-7000-8000-000000000000'));
    expect(error).toMatchObject({ code: 'CONNECTION_FAILED' });
    await gone.close();
  });

  it('close() ends open watches with CLIENT_CLOSED', async () => {
    const own = createClient({ url: server.url });
    const task = await own.enqueue('demo.echo', [], { runAfter: inAnHour() });
    // Handled from the start: the wait rejects while close() is still closing the socket.
    const watching = rejectionOf(own.wait(task.id));
    const watch = own.watch(task.id);
    expect((await watch.next()).value).toMatchObject({ status: 'PENDING' });
    const events = own.events(task.id);
    expect((await events.next()).value).toMatchObject({ version: 1, type: 'ENQUEUED' });
    const pending = rejectionOf(events.next());
    await own.close();
    await watch.return();
    expect(await watching).toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(await pending).toMatchObject({ code: 'CLIENT_CLOSED' });
  });

  it('after close(), every call throws CLIENT_CLOSED', async () => {
    const own = createClient({ url: server.url });
    const task = await own.enqueue('demo.echo', [], { runAfter: inAnHour() });
    await own.close();
    for (const call of [own.get(task.id), own.enqueue('demo.echo'), own.cancel(task.id), own.createReadToken(task.id)]) {
      expect(await rejectionOf(call)).toMatchObject({ code: 'CLIENT_CLOSED' });
    }
  });
});
