import { describe, expect, it } from 'vitest';
import { useQueueTestApp } from '../helpers/factories.js';
import { databaseThroughProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

// A worker's lead (what it claims beyond its free slots) must reach past its own round trips to the
// database: tasks asked for by a claim in flight and tasks whose outcome is being written count
// against what it claims. A lead of WORKER_PREFETCH_MS alone (10 ms) was used up by them once commits
// took 100 ms: a worker of 50 slots ran 5–20 ms handlers at ~110 a second with its slots empty while a
// steady 300 a second piled up (claims waited for writes, writes for claims).
const env = useQueueTestApp();
const QUEUE = 'claim-lead';
const SLOTS = 10;
const HANDLER_MS = 5;
const PREFETCH_MS = 10;

describe("a worker's lead on a slow database", () => {
  it('covers its claim and write round trips: claims go well past its slots and WORKER_PREFETCH_MS', async () => {
    const { proxy, db } = await databaseThroughProxy(env.app.database.url, 10);
    try {
      const tasks = await env.app.deps.queue.enqueueMany(Array.from({ length: 400 }, () => ({ name: 'demo.sleep', args: [HANDLER_MS], queue: QUEUE })));
      // Every answer of the database 40 ms late: each claim and each write takes 40 ms longer.
      proxy.delayAnswers(40);
      const runner = env.app.runner({ sql: db.sql, queues: [QUEUE], concurrency: SLOTS, prefetchMs: PREFETCH_MS });
      const claims: number[] = [];
      runner.on('claimed', (claimed) => void claims.push(claimed.length));
      await runner.start();
      await waitFor(
        async () => {
          const [row] = await env.app.sql`SELECT count(*)::int AS n FROM tasks WHERE queue = ${QUEUE} AND status = 'SUCCEEDED'`;
          return row?.n === tasks.length;
        },
        { message: 'the queue drained', timeoutMs: 60_000 },
      );
      await env.app.stopRunners();
      // Sized by WORKER_PREFETCH_MS alone, the worker held at most its slots and 10 ms of them
      // (10 × 10 / 5 = 20 ahead): claims of 30 at most. With its claims and writes 40 ms longer each,
      // its lead is 90 ms and more: ~170 ahead, less what is being written.
      const prefetchOnly = SLOTS + (SLOTS * PREFETCH_MS) / HANDLER_MS;
      expect(Math.max(...claims)).toBeGreaterThan(2 * prefetchOnly);
      expect(claims.reduce((a, b) => a + b, 0)).toBe(tasks.length);
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});
