import { z } from 'zod';
import { defineTask, type TaskDefinition } from '../../src/worker/define-task.js';
import { NonRetryableError } from '../../src/worker/non-retryable-error.js';

/**
 * Task definitions only the tests use, registered next to the examples in every test app
 * (test/helpers/app.ts), with the state they share with the tests that drive them.
 */

/** Abort reasons seen by `test.block` handlers, by task id: proof that the AbortSignal fired. */
export const abortReasons = new Map<string, unknown>();
/** Task ids in the order `test.record` ran them. */
export const executionOrder: string[] = [];
/** Gates that `test.stubborn` waits on, by `taskId:attempt`; `releaseStubborn()` opens them. */
const gates = new Map<string, () => void>();

/** Opens every gate a `test.stubborn` handler waits on (so none outlives its test); says how many. */
export function releaseStubborn(only?: { taskId: string; attempt: number }): number {
  const keys = only ? [`${only.taskId}:${only.attempt}`].filter((k) => gates.has(k)) : [...gates.keys()];
  for (const key of keys) {
    gates.get(key)?.();
    gates.delete(key);
  }
  return keys.length;
}

/** Values a handler can return that JSON/PostgreSQL cannot store. */
const badResults: Record<string, () => unknown> = {
  bigint: () => ({ total: 10n }),
  cycle: () => {
    const value: Record<string, unknown> = { a: 1 };
    value.self = value;
    return value;
  },
  nul: () => ({ text: 'a\u0000b' }),
  surrogate: () => ({ text: 'broken \ud800 pair' }),
  nulKey: () => ({ 'a\u0000b': 1 }),
  surrogateKey: () => ({ 'broken \ud800': 1 }),
  toJsonThrows: () => ({
    toJSON() {
      throw new Error('no JSON for you');
    },
  }),
  large: () => ({ text: 'x'.repeat(2000) }),
  map: () => ({ lookup: new Map([['a', 1]]) }),
  bytes: () => ({ data: new Uint8Array([1, 2, 3]) }),
  buffer: () => ({ data: Buffer.from('hi') }),
  error: () => ({ error: new Error('returned, not thrown') }),
  // JSON.stringify passes toJSON its key: here 'd', which makes it storable.
  keyedToJson: () => ({ d: { toJSON: (key: string) => (key === 'd' ? 'ok' : { bad: 1n }) } }),
  deep: () => {
    let value: unknown = 'leaf';
    for (let i = 0; i < 5000; i++) value = [value];
    return value;
  },
  nan: () => ({ value: Number.NaN }),
};

/** Things a handler can throw that are not Errors. */
const badThrows: Record<string, () => unknown> = {
  string: () => 'plain string thrown',
  undefined: () => undefined,
  cycle: () => {
    const value: Record<string, unknown> = { reason: 'cyclic' };
    value.self = value;
    return value;
  },
  nulMessage: () => new Error('bad \u0000 byte'),
  subclass: () => new SubclassedError('its name is inherited'),
  withCause: () => new Error('outer', { cause: new TypeError('middle', { cause: new SubclassedError('inner', { cause: 'root reason' }) }) }),
  nulType: () => Object.assign(new Error('typed'), { name: 'Bad\u0000Type', stack: 'Bad\u0000Type: typed\n    at \ud800' }),
  aggregate: () => new AggregateError([new TypeError('one'), 'two'], 'all failed'),
};

/** A subclass that does not set `name`: its instances' name is the inherited 'Error'. */
class SubclassedError extends Error {}

/** Keys whose `test.rerun` already ran once: its second run is not snoozed. */
const snoozedOnce = new Set<string>();

/** Task definitions only the tests use, next to the built-in examples. */
export const testTasks: TaskDefinition[] = [
  // test.rerun(key): writes {i: 1}, {i: 2} and snoozes at once on its first run (the attempt given
  // back: the next run keeps its number), then writes {i: 1} again and returns.
  defineTask({
    name: 'test.rerun',
    args: z.tuple([z.string()]),
    run: async ([key], ctx) => {
      await ctx.output({ i: 1 });
      if (snoozedOnce.has(key)) return 'done';
      snoozedOnce.add(key);
      await ctx.output({ i: 2 });
      ctx.snooze(0);
    },
  }),
  // Snoozes args[0] ms on its first run, then returns.
  defineTask({
    name: 'test.snooze-once',
    args: z.tuple([z.number()]),
    run: ([ms], ctx) => {
      if (snoozedOnce.has(ctx.taskId)) return 'woke';
      snoozedOnce.add(ctx.taskId);
      ctx.snooze(ms);
    },
  }),
  // Blocks until its AbortSignal fires (timeout, cancel, shutdown), then rethrows the abort.
  defineTask({
    name: 'test.block',
    run: (_args, ctx) =>
      new Promise((_resolve, reject) => {
        const onAbort = () => {
          abortReasons.set(ctx.taskId, ctx.signal.reason);
          reject(new DOMException('aborted', 'AbortError'));
        };
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
      }),
  }),
  // Ignores its AbortSignal; waits until the test opens its gate, then returns (or throws: args ['fail']).
  defineTask({
    name: 'test.stubborn',
    run: (args, ctx) =>
      new Promise<string>((resolve, reject) =>
        gates.set(`${ctx.taskId}:${ctx.attempt}`, () =>
          args[0] === 'fail' ? reject(new Error('failed after all')) : resolve(`finally done (attempt ${ctx.attempt})`),
        ),
      ),
  }),
  // Returns a value that cannot be stored, chosen by name (see badResults).
  defineTask({
    name: 'test.return',
    args: z.tuple([z.enum(Object.keys(badResults) as [string, ...string[]])]),
    run: ([kind]) => (badResults[kind] as () => unknown)(),
  }),
  // Throws something that is not an Error, chosen by name (see badThrows).
  defineTask({
    name: 'test.throw',
    args: z.tuple([z.enum(Object.keys(badThrows) as [string, ...string[]])]),
    run: ([kind]) => {
      throw (badThrows[kind] as () => unknown)();
    },
  }),
  // Always fails, with a backoff long enough (450–750 ms) that each RETRYING state outlasts a
  // read of the row even on a machine loaded many times over (demo.fail's 100 ms may not).
  defineTask({
    name: 'test.fail-slowly',
    backoff: { baseMs: 600, maxMs: 2000 },
    run: () => {
      throw new Error('test.fail-slowly always fails');
    },
  }),
  // Fails its first attempt, succeeds on the next.
  defineTask({
    name: 'test.fail-once',
    run: (_args, ctx) => {
      if (ctx.attempt === 1) throw new Error('first attempt fails');
      return { attempt: ctx.attempt };
    },
  }),
  // Asks for no retry: with NonRetryableError (args[0] 'class'), or with an error of its own whose
  // `retryable` is false ('flag').
  defineTask({
    name: 'test.non-retryable',
    args: z.tuple([z.enum(['class', 'flag'])]),
    run: ([how]) => {
      if (how === 'class') throw new NonRetryableError('the record is gone');
      throw Object.assign(new TypeError('bad shape'), { retryable: false });
    },
  }),
  // Spins synchronously for args[0] ms: a handler whose time is all in its synchronous part.
  defineTask({
    name: 'test.spin',
    args: z.tuple([z.number().int().nonnegative()]),
    run: ([ms]) => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        // busy on purpose
      }
      return 'spun';
    },
  }),
  // Reports progress twice without awaiting, then returns: the second call waits behind the
  // first write, so it is still being written when the handler is done.
  defineTask({
    name: 'test.last-progress',
    run: (_args, ctx) => {
      void ctx.progress({ current: 1, total: 2, message: 'first' });
      void ctx.progress({ current: 2, total: 2, message: 'last' });
      return 'ret';
    },
  }),
  // Records the order in which tasks ran.
  defineTask({
    name: 'test.record',
    run: (_args, ctx) => {
      executionOrder.push(ctx.taskId);
      return null;
    },
  }),
];
