import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskEventsDocument } from '../../generated/graphql.js';
import { startTestServer, type TestServer } from '../../helpers/graphql.js';

// Output streamed live to many subscribers, read once per burst for all of them.
const SUBSCRIBERS = 100;
const CHUNKS = 2000;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { MAX_OUTPUT_BYTES: String(128 * 1024) } });
});
afterAll(async () => {
  await server.close();
});

const enqueue = (name: string, args: unknown[]): Promise<string> => server.enqueue(name, args);

describe('taskEvents(types: [OUTPUT]) fan-out', () => {
  it(`hands ${CHUNKS} chunks written as fast as a handler can to ${SUBSCRIBERS} subscribers, in order, and the same to a late reader`, async () => {
    const id = await enqueue('demo.output', [CHUNKS, 0]);
    const sockets = Array.from({ length: 10 }, () => server.wsClient());
    const streams = Array.from({ length: SUBSCRIBERS }, (_, i) => server.subscribeWs(TaskEventsDocument, { id, types: ['OUTPUT'] }, sockets[i % 10]));
    const readsBefore = server.app.logStats.logReads;
    await server.startRunner();
    const expected = Array.from({ length: CHUNKS }, (_, i) => i + 1);
    for (const stream of streams) {
      expect(await stream.done).toBe('complete');
      expect(stream.values.map((v) => (v.taskEvents.output as { i: number }).i)).toEqual(expected);
    }
    const reads = server.app.logStats.logReads - readsBefore;
    // One read per burst of notifications for all 100 subscribers: never one per subscriber.
    expect(reads).toBeLessThan(CHUNKS);
    const late = server.subscribeWs(TaskEventsDocument, { id, types: ['OUTPUT'] });
    expect(await late.done).toBe('complete');
    expect(late.values.map((v) => v.taskEvents.output)).toEqual(streams[0]!.values.map((v) => v.taskEvents.output));
    console.log(`[output fan-out] ${CHUNKS} chunks to ${SUBSCRIBERS} subscribers in ${reads} log reads`);
  });

  it('ends a task’s output at MAX_OUTPUT_BYTES with one truncation marker, then the task still succeeds', async () => {
    // Each chunk is about 30 bytes: 10,000 of them are far over 128 KB.
    const id = await enqueue('demo.output', [10_000, 0]);
    const stream = server.subscribeWs(TaskEventsDocument, { id, types: ['OUTPUT', 'SUCCEEDED'] });
    expect(await stream.done).toBe('complete');
    const outputs = stream.values.map((v) => v.taskEvents).filter((e) => e.type === 'OUTPUT').map((e) => e.output as { i?: number; truncated?: boolean });
    expect(outputs.at(-1)).toEqual({ truncated: true });
    expect(outputs.filter((o) => o.truncated)).toHaveLength(1);
    const numbers = outputs.slice(0, -1).map((o) => o.i);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => i + 1));
    expect(numbers.length).toBeLessThan(10_000);
    expect(stream.values.at(-1)?.taskEvents.type).toBe('SUCCEEDED');
  });
});
