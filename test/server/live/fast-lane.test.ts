import { parse, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskEventsDocument } from '../../generated/graphql.js';
import { sharedResultStats } from '../../../src/server/live/shared-results.js';
import { startTestServer, type TestServer } from '../../helpers/graphql.js';

// The graphql-ws pump's fast lane (shared-results.ts ReadyResults): a queued, error-free result
// skips the per-result wrappers between the shared stream and the socket. Sound only while every
// per-result hook of the server hands such a result on unchanged: the first test checks that on
// the server as built, so a plugin added with a hook that replaces results (or the stream) fails
// here. (A hook that only observes results cannot be told from one that ignores them: whoever adds
// one must read shared-results.ts ReadyResults.)

type OnNext = (payload: { args: ExecutionArgs; result: ExecutionResult; setResult(r: ExecutionResult): void }) => unknown;
interface SubscribeHooks {
  onSubscribeResult?(payload: { args: ExecutionArgs; result: unknown; setResult(r: unknown): void }): { onNext?: OnNext; onEnd?: () => void } | void;
}
interface EnvelopPlugin {
  onSubscribe?(payload: Record<string, unknown>): SubscribeHooks | void | Promise<SubscribeHooks | void>;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

describe('the graphql-ws fast lane', () => {
  it('is sound for this server: every per-result hook hands an error-free result on unchanged (and masking still sees errors)', async () => {
    // yoga's own list, as envelop keeps it (the server adapter binds getEnveloped, hiding its _plugins).
    const plugins = (server.app.yoga as unknown as { plugins: EnvelopPlugin[] }).plugins;
    expect(plugins.length).toBeGreaterThan(5);
    const contextValue = { principal: { kind: 'anonymous' } };
    // A real document: hooks that read it (the operation cost) run on it as on any subscription.
    const args = { contextValue, document: parse('subscription { taskEvents(id: "x") { version } }'), schema: {} } as unknown as ExecutionArgs;
    const stream = { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true, value: undefined }) }) };
    const onNexts: OnNext[] = [];
    let streamsReplaced = 0;
    for (const plugin of plugins) {
      const hooks = await plugin.onSubscribe?.({
        args,
        context: contextValue,
        subscribeFn: () => stream,
        setSubscribeFn: () => undefined,
        extendContext: () => undefined,
        setResultAndStopExecution: () => undefined,
      });
      const after = hooks?.onSubscribeResult?.({ args, result: stream, setResult: () => (streamsReplaced += 1) });
      if (after?.onNext) onNexts.push(after.onNext);
    }
    // A stream replaced by a plugin would sit between the shared stream and the socket, unseen by the lane.
    expect(streamsReplaced).toBe(0);
    expect(onNexts.length).toBeGreaterThan(0); // masked errors, at least
    const clean: ExecutionResult = { data: { taskEvents: { version: 1 } } };
    for (const onNext of onNexts) {
      let changed = false;
      await onNext({ args, result: clean, setResult: () => (changed = true) });
      expect(changed).toBe(false);
    }
    let masked = 0;
    for (const onNext of onNexts) await onNext({ args, result: { data: null, errors: [new Error('boom') as never] }, setResult: () => (masked += 1) });
    expect(masked).toBeGreaterThan(0);
  });

  it('hands a burst of output to many subscribers of one socket past the wrappers, every chunk once and in order', async () => {
    const chunks = 300;
    const id = await server.enqueue('demo.output', [chunks, 0]);
    const socket = server.wsClient();
    const streams = Array.from({ length: 20 }, () => server.subscribeWs(TaskEventsDocument, { id, types: ['OUTPUT'] }, socket));
    const before = sharedResultStats.fastLane;
    await server.startRunner();
    const expected = Array.from({ length: chunks }, (_, i) => i + 1);
    for (const stream of streams) {
      expect(await stream.done).toBe('complete');
      expect(stream.errors).toEqual([]);
      expect(stream.values.map((v) => (v.taskEvents.output as { i: number }).i)).toEqual(expected);
    }
    // Read in a few bursts: all but the first result of each burst take the lane.
    expect(sharedResultStats.fastLane - before).toBeGreaterThan((streams.length * chunks) / 2);
  });

  it('hands each result to a subscriber that waits for it past the wrappers too, and its end through them', async () => {
    // The handler writes a chunk every 30 ms: each arrives while every subscriber waits for it.
    const chunks = 4;
    const id = await server.enqueue('demo.output', [chunks, 30]);
    const socket = server.wsClient();
    const streams = Array.from({ length: 5 }, () => server.subscribeWs(TaskEventsDocument, { id, types: ['OUTPUT'] }, socket));
    const before = sharedResultStats.fastLane;
    await server.startRunner();
    for (const stream of streams) {
      // The end (after SUCCEEDED, a type this filter leaves out) went through the wrappers: `complete`.
      expect(await stream.done).toBe('complete');
      expect(stream.errors).toEqual([]);
      expect(stream.values.map((v) => (v.taskEvents.output as { i: number }).i)).toEqual([1, 2, 3, 4]);
    }
    // Every chunk, not only those queued behind another (0 before ReadyResults.awaitReady).
    expect(sharedResultStats.fastLane - before).toBe(streams.length * chunks);
  });
});
